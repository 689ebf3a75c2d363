"""The pytest plugin: the harness inside a user's own test suite.

Registered through the ``pytest11`` entry point (``fuzzharness = fuzzharness.pytest_plugin``),
so installing fuzzharness is enough. It gives a test suite:

* options ``--fh-registry``, ``--fh-targets``, ``--fh-variant``, ``--fh-mutant`` (and the
  ini keys ``fh_registry``, ``fh_targets``, ``fh_variant``, ``fh_mutant``; the command line
  wins), which the fixtures and the state machines of :mod:`fuzzharness.hypothesis` honour.
  ``--fh-registry FILE`` makes FILE the user registry of the run, as the command line's
  ``--registry`` does (``FUZZHARNESS_REGISTRY``, read by every part of the harness and by
  the workers; its targets join the bundled ones, and are the default ``--fh-targets``);
  ``--fh-targets`` also deselects the state machines of other targets;
* the fixture ``fh_target``: one test per selected target, given a :class:`LoadedTarget`,
  the target's library loaded in a worker process (never in the pytest process: a crash of
  the library fails the test with the crash finding, and pytest goes on);
* ``--fh-save-findings DIR``: the findings of a test that breaks the contract are saved
  in DIR as ``fuzzharness`` saves them, and every such failure shows the failing program
  alone in a report section (ready to save as a ``.fh`` file);
* the marker ``@pytest.mark.fh_findings(FOLDER, times=2, control=False)`` with the fixture
  ``fh_finding``: one test per saved finding under FOLDER (a directory holding
  ``finding.json``, as ``fuzzharness`` saves it), which replays it (:class:`SavedFinding`).
  So a fixed crash becomes a regression test by copying its folder.

Guarantees: importing the plugin imports no other fuzzharness module (every pytest run in
an environment with fuzzharness installed loads it, so it stays cheap and cannot break a
suite that does not use it); it adds nothing to a run that uses none of the above; the
parametrization is a sorted, deterministic function of the options and the folders, so it
works under ``pytest -n auto``; each process (one per xdist worker) opens its own workers
and closes them when its session ends.

What a saved finding must do is written beside it:

* ``fixed.json`` (``{"fixed": true, "replay_variant": "release", "note": "..."}``) or no
  marker at all: the bug is fixed; the finding must NOT reproduce on ``replay_variant``
  (default: the variant it was found on) in any of ``times`` runs, nor may its minimized
  program (``program.min.fh``) yield any finding there;
* ``expected.json`` (``{"replay_variant": ..., "note": "..."}``): the bug is known and
  still there; the finding MUST reproduce in at least one of ``times`` runs (when it stops,
  the test says so: the bug seems fixed, write ``fixed.json`` instead).

With ``control=True``, a fixed finding whose ``replay_variant`` differs from the variant it
was found on is also replayed on that variant, where it must still reproduce: a replay that
cannot see the bug where it still is would pass for nothing.
"""

from __future__ import annotations

import atexit
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:  # pragma: no cover - types only, never imported at run time
    from fuzzharness.contract.registry import TargetSpec
    from fuzzharness.findings.store import Finding
    from fuzzharness.programs.sequential import Program

__all__ = [
    "FhOptions",
    "active_options",
    "LoadedTarget",
    "OwnershipFailure",
    "open_target",
    "mutant_number",
    "mutant_label",
    "load_target_registry",
    "SavedFinding",
    "saved_findings",
    "REGISTRY_ENV",
]

#: The environment variable naming the user registry (fuzzharness.contract.registry.REGISTRY_ENV;
#: not imported from there, so that loading the plugin loads nothing else).
REGISTRY_ENV = "FUZZHARNESS_REGISTRY"
FIXED_MARKER = "fixed.json"
EXPECTED_MARKER = "expected.json"
DEFAULT_TIMES = 2


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class FhOptions:
    """The plugin's options for one pytest session (None: not given)."""

    registry: Path | None = None
    targets: tuple[str, ...] | None = None
    variant: str | None = None
    mutant: int | None = None
    #: where the findings of failing tests are saved (None: not saved)
    save_findings: Path | None = None


#: The options of the sessions configured in this process, innermost last (a pytester
#: run inside a test is a session inside a session).
_SESSIONS: list[FhOptions] = []


def active_options() -> FhOptions | None:
    """The options of the pytest session running in this process, None outside pytest."""
    return _SESSIONS[-1] if _SESSIONS else None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fuzzharness", "fuzzharness: the Go/Rust FFI ownership harness")
    group.addoption("--fh-registry", metavar="PATH", help="a user registry file: its targets join the bundled ones")
    group.addoption("--fh-targets", metavar="A,B", help="targets for fh_target and the state machines (default: the "
                    "user registry's with --fh-registry, else all registered)")  # fmt: skip
    group.addoption("--fh-variant", metavar="VARIANT", help="build variant to load (default: release)")
    group.addoption("--fh-mutant", metavar="MUTANT", help="inject a mutant (a variant with mutant injection), e.g. snapshot-shares")
    group.addoption("--fh-save-findings", metavar="DIR",
                    help="save the findings of tests that break the contract in DIR, as fuzzharness saves them "
                         "(copy one into a folder of @pytest.mark.fh_findings and it is a regression test)")  # fmt: skip
    for name, text in (("fh_registry", "target registry file"), ("fh_targets", "comma-separated targets"),
                       ("fh_variant", "build variant"), ("fh_mutant", "mutant to inject")):  # fmt: skip
        parser.addini(name, f"fuzzharness: {text} (the --{name.replace('_', '-')} option wins)")


def _option(config: pytest.Config, name: str) -> tuple[str | None, Path]:
    """An option's value and the directory a relative path in it is relative to: the
    command line's is the invocation directory, the ini file's is the rootdir."""
    value = config.getoption(f"--{name.replace('_', '-')}")
    base = config.invocation_params.dir
    if not value:
        value, base = config.getini(name), config.rootpath
    text = str(value).strip() if value else ""
    return (text or None), Path(base)


def _parse_options(config: pytest.Config) -> FhOptions:
    registry, base = _option(config, "fh_registry")
    targets, _ = _option(config, "fh_targets")
    mutant, _ = _option(config, "fh_mutant")
    variant, _ = _option(config, "fh_variant")
    mutant_number = None
    if mutant is not None:
        from fuzzharness.contract.header import parse_mutant
        from fuzzharness.errors import InvalidArgument

        try:
            mutant_number = parse_mutant(mutant)
        except InvalidArgument as exc:
            raise pytest.UsageError(f"--fh-mutant: {exc}") from None
    path = None
    if registry is not None:
        path = (base / registry).resolve()
        if not path.is_file():
            raise pytest.UsageError(f"--fh-registry: {path} is not a file")
    names = tuple(n.strip() for n in targets.split(",") if n.strip()) if targets else ()
    save = config.getoption("--fh-save-findings")
    save_path = (Path(config.invocation_params.dir) / save).resolve() if save else None
    return FhOptions(path, names or None, variant, mutant_number, save_path)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fh_findings(folder, ..., times=2, control=False): one test per saved fuzzharness finding under the "
        "folders (relative to the rootdir), given to the test as the fh_finding fixture",
    )
    options = _parse_options(config)
    if options.registry is not None:
        from fuzzharness.contract.registry import use_registry
        from fuzzharness.errors import UserError

        config.stash[_SAVED_ENV_KEY] = os.environ.get(REGISTRY_ENV)
        try:
            use_registry(options.registry)
        except UserError as exc:
            _restore_registry_env(config)
            raise pytest.UsageError(f"--fh-registry: {exc}") from None
    _SESSIONS.append(options)
    config.stash[_OPTIONS_KEY] = options


_OPTIONS_KEY = pytest.StashKey[FhOptions]()
_SAVED_ENV_KEY = pytest.StashKey["str | None"]()


def pytest_unconfigure(config: pytest.Config) -> None:
    options = config.stash.get(_OPTIONS_KEY, None)
    if options is None:
        return
    for i in range(len(_SESSIONS) - 1, -1, -1):  # sessions nest: this one is the innermost left
        if _SESSIONS[i] is options:
            del _SESSIONS[i]
            break
    _restore_registry_env(config)
    if not _SESSIONS:
        close_all()


def _restore_registry_env(config: pytest.Config) -> None:
    if _SAVED_ENV_KEY not in config.stash:
        return
    saved = config.stash[_SAVED_ENV_KEY]
    del config.stash[_SAVED_ENV_KEY]
    if saved is None:
        os.environ.pop(REGISTRY_ENV, None)
    else:
        os.environ[REGISTRY_ENV] = saved


def pytest_report_header(config: pytest.Config) -> str | None:
    options = config.stash.get(_OPTIONS_KEY, None)
    if options is None or options == FhOptions():
        return None
    parts = [f"registry={options.registry}" if options.registry else None,
             f"targets={','.join(options.targets)}" if options.targets else None,
             f"variant={options.variant}" if options.variant else None,
             f"mutant={options.mutant}" if options.mutant is not None else None]  # fmt: skip
    return "fuzzharness: " + " ".join(p for p in parts if p)


# --------------------------------------------------------------------------- targets in workers


def load_target_registry() -> dict[str, TargetSpec]:
    """The registry this process sees: the bundled targets plus the user registry of
    ``FUZZHARNESS_REGISTRY`` (set by ``--fh-registry``). Raises
    :class:`~fuzzharness.errors.CorruptInput` naming what is wrong."""
    from fuzzharness.contract.registry import load_registry

    return load_registry()


class OwnershipFailure(AssertionError):
    """A target broke the contract: the test fails with the findings (kind, signature),
    the program in the harness's text form (``fuzzharness repro FILE.fh`` replays it) and
    the side-by-side trace. The findings and the text are made when first asked for: a
    shrinking Hypothesis raises many of these and shows one."""

    def __init__(self, target: "LoadedTarget", program: Program, outcome: Any, problems: list[str]) -> None:
        super().__init__(f"{target.name}: {problems[0]}")
        self._target = target
        self.target = target.name
        self.program = program
        self.outcome = outcome
        #: one line per thing that broke the contract (a divergence's summary, a crash)
        self.problems = problems
        self._findings: list[Finding] | None = None
        self._text: str | None = None

    @property
    def findings(self) -> list[Finding]:
        """The findings, as ``fuzzharness`` would save them."""
        if self._findings is None:
            self._findings = self._target.findings(self.program, self.outcome)
        return self._findings

    @property
    def trace(self) -> str:
        """The side-by-side trace of the run (model and target, the breaking step marked).
        When the worker died, the program is run once more with every step streamed, so
        the trace shows the steps before the one that killed it."""
        from fuzzharness.execution.supervisor import Failure
        from fuzzharness.findings.triage import render_trace

        if isinstance(self.outcome, Failure):
            steps, outcome = self._target.run_streamed(self.program)
            return render_trace(self.program, {self.target: outcome}, {self.target: steps})
        found = self.findings
        return found[0].trace if found and found[0].trace else render_trace(self.program, {self.target: self.outcome})

    def __str__(self) -> str:
        if self._text is None:
            problem = "; ".join(self.problems)
            try:
                self._text = _failure_text(self._target, self.program, self.findings, self.trace, problem)
            except Exception as exc:  # noqa: BLE001 - the failure must still be told: without findings
                from fuzzharness.programs.sequential import to_text

                self._text = (f"{self.target}: {problem}\n(no findings or trace: {type(exc).__name__}: {exc})\n"
                              + to_text(self.program))  # fmt: skip
        return self._text


def _failure_text(target: "LoadedTarget", program: Program, findings: list[Finding], trace: str, problem: str) -> str:
    from fuzzharness.programs.sequential import to_text

    build = f"variant {target.variant}"
    replay = f"fuzzharness repro FILE.fh --targets {target.name} --variant {target.variant}"
    if target.mutant:
        name = mutant_label(target.mutant)
        build += f", mutant {name}"
        replay += f" --mutant {name}"
    registry = os.environ.get(REGISTRY_ENV)
    if registry:
        replay = f"{REGISTRY_ENV}={registry} {replay}"
    lines = [f"{target.name} ({build}) broke the contract:"]
    for finding in findings:
        lines.append(f"  [{finding.kind.name}] {finding.summary}")
        lines.append(f"      signature: {', '.join(finding.signature)}")
    if not findings:
        lines.append(f"  {problem}")
    lines.append(f"the program ({len(program.ops)} ops; save it as FILE.fh and replay it with `{replay}`):")
    lines.append(to_text(program).rstrip("\n"))
    lines.append("the trace:")
    lines.append(trace.rstrip("\n"))
    return "\n".join(lines)


class LoadedTarget:
    """One registered target, its library loaded in a worker process of its own.

    The worker starts on the first run and is restarted after a crash, a hang or a caught
    panic (:class:`~fuzzharness.execution.supervisor.TargetWorker`), so one object serves a
    whole session. Programs are :class:`~fuzzharness.programs.sequential.Program` values or
    their text form."""

    def __init__(self, spec: TargetSpec, variant: str = "release", mutant: int = 0, *,
                 timeout: float | None = None) -> None:  # fmt: skip
        from fuzzharness.execution.supervisor import DEFAULT_TIMEOUT, TargetWorker

        self.spec = spec
        self.name = spec.name
        self.variant = variant
        self.mutant = mutant
        self._worker = TargetWorker(spec, variant, timeout=timeout or DEFAULT_TIMEOUT, mutant=mutant)

    def __repr__(self) -> str:
        return f"LoadedTarget({self.name!r}, variant={self.variant!r}, mutant={self.mutant})"

    # -- running -----------------------------------------------------------------------

    def run(self, program: Program | str) -> Any:
        """One run: the trace (a list of observations, one per step), or a
        :class:`~fuzzharness.execution.supervisor.Failure` if the worker died or hung."""
        program = _program(program)
        return dict(self.run_all([program]))[0]

    def run_streamed(self, program: Program) -> tuple[list[Any], Any]:
        """One run with every step streamed back as it completes: (the observations of the
        steps done, the outcome), so a run that kills the worker still shows its steps."""
        steps: list[Any] = []
        outcome: Any = None
        for event in self._worker.run([(0, program)], stream_ops=True):
            if event[0] == "step":
                steps.append(event[3])
            elif event[0] in ("result", "failure"):
                outcome = event[2]
        return steps, outcome

    def run_all(self, programs: list[Program]) -> Iterator[tuple[int, Any]]:
        """Run ``programs`` in one batch; yields ``(index, outcome)`` in order and stops
        after the first :class:`~fuzzharness.execution.supervisor.Failure` (the programs
        after it are not run: a program that kills the worker usually kills it again)."""
        from fuzzharness.execution.supervisor import Failure

        for event in self._worker.run(list(enumerate(programs))):
            if event[0] == "result":
                yield event[1], event[2]
            elif event[0] == "failure":
                yield event[1], event[2]
                if isinstance(event[2], Failure):
                    return

    # -- checking ----------------------------------------------------------------------

    def problems(self, program: Program, outcome: Any) -> list[str]:
        """What breaks the contract in one run (empty when nothing does): the failure, or
        each divergence from the model as the registry's handle policy checks it."""
        from fuzzharness.execution.supervisor import Failure

        if isinstance(outcome, Failure):
            return [f"{self.name}: {outcome.describe()}"]
        return [d.summary() for d in self._divergences(program, outcome)]

    def _divergences(self, program: Program, trace: list[Any]) -> list[Any]:
        from fuzzharness.oracles.differential import check_program

        pairs = {self.name} if self.spec.pair else set()
        return check_program(program, {self.name: trace}, pairs=pairs, policies={self.name: self.spec.policy})

    def findings(self, program: Program | str, outcome: Any = None) -> list[Finding]:
        """The findings of one run (``outcome``: of a run already made; else run it now),
        as ``fuzzharness`` saves them: kind, signature, summary and trace."""
        from fuzzharness.findings.triage import findings_for

        program = _program(program)
        if outcome is None:
            outcome = self.run(program)
        return findings_for(program, {self.name: outcome}, variant=self.variant, seed=None, mutant=self.mutant)

    def failure(self, program: Program, outcome: Any) -> OwnershipFailure | None:
        """The test failure of one run, or None when the run keeps the contract."""
        problems = self.problems(program, outcome)
        return OwnershipFailure(self, program, outcome, problems) if problems else None

    def check(self, program: Program | str) -> list[Any]:
        """Run ``program`` and check it against the model; returns the trace, or raises
        :class:`OwnershipFailure` (an AssertionError) with the findings, the program and
        the trace."""
        __tracebackhide__ = True  # pytest shows the failure, not this frame
        program = _program(program)
        outcome = self.run(program)
        failure = self.failure(program, outcome)
        if failure is not None:
            raise failure
        return outcome

    def check_stepwise(self, program: Program) -> None:
        """Check ``program`` as a state machine checks its steps, in one batch (one round
        trip to the worker) of two runs: ``program`` itself, then the same with a ``stats``
        call after every op. So every op is checked against the model's prediction, the
        stats after every op against the model's accounting (the stats invariant: a
        ``stats`` call changes nothing), and at the end the leaks after quiesce. Raises
        :class:`OwnershipFailure` for ``program`` if it fails, else for its stats variant
        if that fails (its text then holds the stats calls, so it replays as it failed)."""
        __tracebackhide__ = True  # pytest shows the failure, not this frame
        from fuzzharness.programs.sequential import Program, Stats

        with_stats = Program(program.config, tuple(x for op in program.ops for x in (op, Stats())))
        runs = [program, with_stats]
        # The whole batch is read before checking (the stream stays clean for the next one);
        # run_all stops early only after a failure, whose worker is gone anyway.
        for index, outcome in list(self.run_all(runs)):
            failure = self.failure(runs[index], outcome)
            if failure is not None:
                raise failure

    def close(self) -> None:
        self._worker.close()


def _program(program: Program | str) -> Program:
    if isinstance(program, str):
        from fuzzharness.programs.sequential import parse_text

        return parse_text(program, "<program text>")
    return program


#: Targets opened in this process, by (user registry, name, variant, mutant, timeout).
_OPEN: dict[tuple, LoadedTarget] = {}
_ATEXIT: list[bool] = []


def open_target(name: str, *, variant: str = "release", mutant: int | str = 0,
                timeout: float | None = None) -> LoadedTarget:  # fmt: skip
    """The registered target ``name`` loaded in a worker, shared by every caller of this
    process with the same arguments, closed when the pytest session (or the process)
    ends. ``mutant``: a number or a name such as ``"snapshot-shares"`` (a variant with
    mutant injection). Raises :class:`~fuzzharness.errors.InvalidArgument` for an unknown
    target, variant or mutant, :class:`~fuzzharness.errors.TargetNotBuilt` with the command
    that builds it."""
    from fuzzharness.errors import InvalidArgument

    mutant = mutant_number(mutant)
    key = (os.environ.get(REGISTRY_ENV), name, variant, mutant, timeout)
    if key not in _OPEN:
        specs = load_target_registry()
        if name not in specs:
            raise InvalidArgument(f"unknown target {name!r}; registered: {', '.join(specs)}")
        _OPEN[key] = LoadedTarget(specs[name], variant, mutant, timeout=timeout)
        if not _ATEXIT:
            atexit.register(close_all)
            _ATEXIT.append(True)
    return _OPEN[key]


def mutant_number(mutant: int | str) -> int:
    """A mutant given by number or by name (``"snapshot-shares"``) as its number; raises
    :class:`~fuzzharness.errors.InvalidArgument` naming the known ones."""
    from fuzzharness.contract.header import parse_mutant
    from fuzzharness.errors import InvalidArgument

    if isinstance(mutant, bool) or not isinstance(mutant, (int, str)):
        raise InvalidArgument(f"mutant must be a number or a name such as 'snapshot-shares', got {mutant!r}")
    number = parse_mutant(mutant) if isinstance(mutant, str) else mutant
    if number < 0:
        raise InvalidArgument(f"mutant must be a mutant's number (0 or more), got {number}")
    return number


def mutant_label(number: int) -> str:
    """A mutant as users write it (``snapshot-shares``), or its number if it has no name."""
    from fuzzharness.contract.header import Mutant, mutant_name

    try:
        return mutant_name(Mutant(number))
    except ValueError:
        return str(number)


def close_all() -> None:
    """Close every target opened in this process."""
    while _OPEN:
        _, target = _OPEN.popitem()
        target.close()


@pytest.fixture(scope="session")
def fh_options(pytestconfig: pytest.Config) -> FhOptions:
    """The plugin's options of this session."""
    return pytestconfig.stash[_OPTIONS_KEY]


@pytest.fixture(scope="session")
def fh_target(request: pytest.FixtureRequest) -> LoadedTarget:
    """A target of ``--fh-targets`` (one test per target) loaded in a worker with the
    session's ``--fh-variant`` and ``--fh-mutant``."""
    options: FhOptions = request.config.stash[_OPTIONS_KEY]
    return open_target(request.param, variant=options.variant or "release", mutant=options.mutant or 0)


def _target_names(config: pytest.Config) -> list[str]:
    """``--fh-targets``; without it the user registry's targets, else every registered one."""
    from fuzzharness.contract.registry import load_registry

    options: FhOptions = config.stash[_OPTIONS_KEY]
    specs = load_target_registry()
    if options.targets is None:
        if options.registry is None:
            return list(specs)
        from fuzzharness.contract.registry import REGISTRY_FILE

        bundled = load_registry(REGISTRY_FILE)
        return [name for name in specs if name not in bundled]
    unknown = [n for n in options.targets if n not in specs]
    if unknown:
        raise pytest.UsageError(f"--fh-targets: unknown target(s) {', '.join(unknown)}; registered: {', '.join(specs)}")
    return list(options.targets)


# --------------------------------------------------------------------------- saved findings


@dataclass(frozen=True)
class SavedFinding:
    """A saved finding and what it must do when replayed (see the module doc)."""

    path: Path
    #: "fixed" (must not reproduce) or "expected" (must reproduce)
    expectation: str
    #: the variant to replay on (None: the one it was found on)
    replay_variant: str | None
    note: str = ""
    times: int = DEFAULT_TIMES
    control: bool = False

    @property
    def id(self) -> str:
        return self.path.name

    def __repr__(self) -> str:
        return f"SavedFinding({str(self.path)!r}, {self.expectation})"

    def check(self) -> None:
        """Replay the finding; fails the test (pytest.fail) with the trace when it does
        not do what its marker says."""
        from fuzzharness.findings.repro import reproduce
        from fuzzharness.findings.store import load

        saved = load(self.path)
        variant = self.replay_variant or saved.variant
        about = f"{self.id} ({saved.summary})" + (f"\n  note: {self.note}" if self.note else "")
        result = reproduce(self.path, times=self.times, variant=variant)
        if self.expectation == "expected":
            if not result.reproduced:
                pytest.fail(f"{about}\n  expected to reproduce on {variant} ({EXPECTED_MARKER}) but did not in "
                            f"{result.runs} run(s): the bug seems fixed; replace {EXPECTED_MARKER} with {FIXED_MARKER}\n"
                            f"{result.trace}", pytrace=False)  # fmt: skip
            return
        if result.reproduced:
            pytest.fail(f"{about}\n  is back on {variant}: {result.verdict}\n{result.trace}", pytrace=False)
        minimal = self.path / "program.min.fh"
        if minimal.is_file():
            again = reproduce(minimal, targets=",".join(saved.targets), variant=variant)
            if again.reproduced:
                pytest.fail(f"{about}\n  its minimized program {minimal.name} yields findings on {variant}:\n"
                            f"{again.trace}", pytrace=False)  # fmt: skip
        if self.control and variant != saved.variant:
            where = reproduce(self.path)
            if not where.reproduced:
                pytest.fail(f"{about}\n  does not reproduce even on {saved.variant}, where the bug still is: "
                            f"the replay cannot see it, so this regression test would pass for nothing\n"
                            f"{where.trace}", pytrace=False)  # fmt: skip


def _marker_json(path: Path) -> dict[str, Any]:
    from fuzzharness.errors import CorruptInput

    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptInput(f"{path}: not a readable JSON object ({exc})") from None
    if not isinstance(data, dict):
        raise CorruptInput(f"{path}: expected a JSON object")
    variant = data.get("replay_variant")
    if variant is not None and not (isinstance(variant, str) and variant):
        raise CorruptInput(f"{path}: 'replay_variant' must be a variant name or null")
    return data


def _saved_finding(directory: Path, times: int, control: bool) -> SavedFinding:
    from fuzzharness.errors import CorruptInput

    fixed, expected = directory / FIXED_MARKER, directory / EXPECTED_MARKER
    if fixed.exists() and expected.exists():
        raise CorruptInput(f"{directory}: has both {FIXED_MARKER} and {EXPECTED_MARKER}; keep the one that is true")
    if expected.exists():
        data = _marker_json(expected)
        return SavedFinding(directory, "expected", data.get("replay_variant"), str(data.get("note", "")), times, control)
    data = _marker_json(fixed) if fixed.exists() else {}
    if data.get("fixed", True) is not True:
        raise CorruptInput(f"{fixed}: 'fixed' must be true; a finding that must still reproduce gets {EXPECTED_MARKER}")
    return SavedFinding(directory, "fixed", data.get("replay_variant"), str(data.get("note", "")), times, control)


def saved_findings(folder: Path, *, times: int = DEFAULT_TIMES, control: bool = False) -> list[SavedFinding]:
    """Every saved finding under ``folder`` (a directory holding ``finding.json``, at any
    depth; hidden directories, such as a save in progress, are skipped), sorted by path.
    Raises :class:`~fuzzharness.errors.InvalidArgument` when the folder does not exist, and
    :class:`~fuzzharness.errors.CorruptInput` for a finding that cannot be read."""
    from fuzzharness.errors import InvalidArgument
    from fuzzharness.findings.store import FINDING_FILE, load

    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidArgument(f"fh_findings: {folder} is not a directory of saved findings")
    if times < 1:
        raise InvalidArgument(f"fh_findings: times must be at least 1, got {times}")
    found = []
    for marker in sorted(folder.rglob(FINDING_FILE)):
        directory = marker.parent
        if any(part.startswith(".") for part in directory.relative_to(folder).parts):
            continue
        load(directory)  # a corrupt finding is an error at collection, naming the file
        found.append(_saved_finding(directory, times, control))
    return found


@pytest.fixture
def fh_finding(request: pytest.FixtureRequest) -> SavedFinding:
    """A saved finding; given by ``@pytest.mark.fh_findings(FOLDER)`` (one test each)."""
    pytest.fail(f"{request.node.nodeid}: the fh_finding fixture needs @pytest.mark.fh_findings(FOLDER)", pytrace=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fh_target" in metafunc.fixturenames:
        names = _target_names(metafunc.config)
        metafunc.parametrize("fh_target", names, indirect=True, scope="session", ids=names)
    marker = metafunc.definition.get_closest_marker("fh_findings")
    if marker is None:
        return
    where = metafunc.definition.nodeid
    if "fh_finding" not in metafunc.fixturenames:
        raise pytest.Collector.CollectError(f"{where}: @pytest.mark.fh_findings needs the fh_finding argument")
    if not marker.args:
        raise pytest.Collector.CollectError(f"{where}: @pytest.mark.fh_findings needs at least one folder")
    unknown = set(marker.kwargs) - {"times", "control"}
    if unknown:
        raise pytest.Collector.CollectError(f"{where}: fh_findings takes times= and control=, "
                                            f"not {', '.join(sorted(unknown))}")  # fmt: skip
    from fuzzharness.errors import UserError

    found: list[SavedFinding] = []
    try:
        for folder in marker.args:
            path = Path(folder)
            found += saved_findings(path if path.is_absolute() else metafunc.config.rootpath / path,
                                    times=int(marker.kwargs.get("times", DEFAULT_TIMES)),
                                    control=bool(marker.kwargs.get("control", False)))  # fmt: skip
    except UserError as exc:  # a one-line collection error naming the folder or the file
        raise pytest.Collector.CollectError(f"{where}: {exc}") from None
    ids = [f.id for f in found]
    metafunc.parametrize("fh_finding", found, ids=ids)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test failed by an :class:`OwnershipFailure` gets a report section holding the
    program alone (pytest prefixes the lines of an exception's message), ready to save
    as a ``.fh`` file."""
    report = yield
    failure = call.excinfo.value if call.excinfo is not None else None
    if isinstance(failure, OwnershipFailure):
        from fuzzharness.programs.sequential import to_text

        report.sections.append((f"fuzzharness: the failing program of {failure.target} (save it as FILE.fh)",
                                to_text(failure.program)))  # fmt: skip
        options = item.config.stash.get(_OPTIONS_KEY, None)
        if options is not None and options.save_findings is not None:
            report.sections.append(("fuzzharness: findings saved", _save(failure, options.save_findings)))
    return report


def _save(failure: OwnershipFailure, directory: Path) -> str:
    """Save the failure's findings under ``directory``; one line per finding."""
    from fuzzharness.findings.store import save

    lines = []
    for finding in failure.findings:
        path = save(finding, directory)
        lines.append(f"{directory / finding.id}" + ("" if path else " (already saved)"))
    return "\n".join(lines) or "(no finding to save)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--fh-targets`` deselects the state machines (:mod:`fuzzharness.hypothesis`) of
    other targets."""
    options = config.stash.get(_OPTIONS_KEY, None)
    if options is None or options.targets is None:
        return
    keep, drop = [], []
    for item in items:
        machine = getattr(getattr(getattr(item, "cls", None), "runTest", None), "_hypothesis_state_machine_class", None)
        target = getattr(machine, "fuzzharness_target", None)
        (drop if target is not None and target not in options.targets else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
