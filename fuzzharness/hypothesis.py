"""A Hypothesis state machine over the contract, for any registered target.

Two lines in a test module::

    from fuzzharness.hypothesis import ownership_machine

    TestMyLib = ownership_machine("mylib").TestCase

``mylib`` is a target of the registry (bundled or the user's own, with exact or opaque
handles). The registry, build variant and mutant come from the keyword arguments, else
from the pytest plugin's options (``--fh-registry``, ``--fh-variant``, ``--fh-mutant``,
see :mod:`fuzzharness.pytest_plugin`), else the defaults (the bundled registry, release,
no mutant). Settings as for any Hypothesis machine, e.g.
``TestMyLib.settings = settings(TestMyLib.settings, max_examples=500)`` (or
``ownership_machine(..., settings=...)``); the defaults are Hypothesis's for a state
machine (100 examples of up to 50 steps, no deadline) without the ``explain`` phase (it
traces every line the check runs: a failing run took three times as long), which a
settings object made from them keeps.

The machine (:class:`OwnershipMachine`) draws a session (configuration, and which kinds of
call it makes: see below), then steps that are contract calls: ``create``, ``snapshot``,
``release``, ``write``, ``read``, and ``use`` (``acquire``, ``info`` or ``quiesce``); a call
on a handle may instead pass a dead handle (a stale use), the handle with bits flipped
(``hK^mask``: a forgery derived from the target's OWN value) or a raw value (0, all ones,
...). Handles flow through the bundle ``handles``: a handle enters it when the in-process
model says its create or snapshot succeeded; steps draw from ``live``, the handles of
``handles`` whose resource the model says still lives when the step draws. (A handle never
leaves the bundle, so a release moves no other handle's place in it: taking a released
handle out and putting a survivor back at the end left shrinking stuck at 7 steps for a
4-step bug.) No ``stats`` step: the stats invariant reads them after every step. On a
cross-runtime pair each call also draws the runtime that makes it (``via``). The model
only steers the drawing; the verdict is the harness's.

Swarm testing (some kinds of call left out of a whole example, which finds bugs that need
many calls of a few kinds) is drawn with the session, in its first step. Hypothesis's own
swarm switches rules off, deciding each the first time a step considers it: those
decisions land in many steps, and a step that holds one cannot be deleted while shrinking
(measured on the rust and go mutants: 16-41 steps left instead of 3-4), so it is turned off
for this machine.

What is checked, and when: every step appends its op to the program; the teardown runs
the program on the target, and the program with a ``stats`` call after every op, in one
batch (:meth:`~fuzzharness.pytest_plugin.LoadedTarget.check_stepwise`: one round trip to
the worker), and checks both against the model
(:func:`fuzzharness.oracles.differential.check_program`, which honours the target's handle
policy: exact or opaque): every step's result against the model's prediction, the stats
after every step against the model's accounting (the stats invariant; ``stats`` changes
nothing, so the second run is the same program observed more often), and the leaks after
quiesce (every run closes with quiesce, stats and shutdown). A step's verdict does not
depend on the steps after it, so this is the verdict of a check after every step.

Why not a round trip per step: measured on the rust mutants (seed 0, 100 examples, an
earlier set of rules), a check after every step took 42-290 s to find and shrink a bug,
the check at teardown 12-20 s (now 5-25 s per bug, rust and go); a passing run of 100
examples takes about 2.5 s. (Checking at steps 1, 2, 4, 8, ... left shrinking stuck at
8-32 steps: an example that fails at a checkpoint cannot lose a step without moving the
failure past its end.)

A failure is an :class:`~fuzzharness.pytest_plugin.OwnershipFailure` (an AssertionError)
naming the finding's kind and signature, with the program in the harness's text form
(``fuzzharness repro FILE.fh`` replays it) and the side-by-side trace; Hypothesis shrinks
the steps first. The target runs in a worker process: a crash of the library is a crash
finding, never the end of pytest.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import Phase
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, multiple, precondition, rule

from fuzzharness.contract.header import U64_MAX, Status
from fuzzharness.contract.registry import TargetSpec
from fuzzharness.errors import InvalidArgument
from fuzzharness.oracles.model import OwnershipModel, classify
from fuzzharness.programs.interpreter import resolve
from fuzzharness.programs.sequential import (
    MAX_READ_LEN,
    STRATEGY_CLASSES,
    VIAS,
    Acquire,
    Config,
    Create,
    HandleOperand,
    Info,
    Op,
    Program,
    Quiesce,
    Raw,
    Read,
    Ref,
    Release,
    Snapshot,
    Stats,
    Tweak,
    Write,
    op_name,
)
from fuzzharness.pytest_plugin import (
    LoadedTarget,
    active_options,
    load_target_registry,
    mutant_label,
    mutant_number,
    open_target,
)

__all__ = ["ownership_machine", "OwnershipMachine"]

# --------------------------------------------------------------------------- what steps draw

#: Capacities: roomy ones first (Hypothesis favours the first), 2 and 1 exhaust quickly.
CAPACITIES = st.sampled_from((8, 4, 16, 2, 1))
#: (max_resource_bytes, max_total_bytes): mostly roomy, sometimes limits a few creates reach.
LIMITS = st.sampled_from(((1 << 16, 1 << 20), (1 << 16, 1 << 20), (64, 256), (16, 1 << 20), (1 << 16, 100)))
CONFIGS = st.tuples(CAPACITIES, st.sampled_from(STRATEGY_CLASSES), LIMITS).map(
    lambda drawn: Config(drawn[0], drawn[1], *drawn[2]))


def _mostly_small(small: int, rare: tuple[int, ...]) -> st.SearchStrategy[int]:
    """1..small seven times in eight, else one of ``rare`` (shrinks toward 1)."""
    span = 7 * len(rare)
    return st.integers(0, span + len(rare) - 1).map(
        lambda i: 1 + i * small // span if i < span else rare[i - span])


#: Creates stop when this many resources live (see OwnershipMachine._may_create).
CROWD = 2
#: Resource sizes: small (so reads and writes land in and around them), sometimes empty,
#: too large for the limits, or absurd.
SIZES = _mostly_small(16, (0, 64, 4096, (1 << 16) + 1, U64_MAX))
#: Where a read or write lands in the resource (see :func:`_offset`): mostly in bounds,
#: sometimes just past the end (BOUNDS), rarely far out (OVERFLOW).
PLACES = st.integers(0, 20)
#: How many bytes a read takes: 0 for the rest of the resource from its offset (what a
#: shrunk example reads), else ``span - 1``: 0-8 bytes.
SPANS = st.integers(0, 9)
#: What a write writes: never nothing (a read of 0 bytes covers the empty case), and never
#: the zeros a new resource holds: Hypothesis draws zero bytes most, and a write of zeros
#: to fresh memory changes nothing a read could show (0xa5 is what a shrunk one writes).
DATA = st.binary(min_size=1, max_size=8).map(lambda drawn: bytes(b ^ 0xA5 for b in drawn))


def _offset(place: int, size: int, length: int) -> int:
    """The offset ``place`` names in a resource of ``size`` bytes for ``length`` bytes:
    0-15 spread over the offsets that fit, 16-18 one to three bytes past the last one
    that fits, 19 and 20 the top of the 64-bit range."""
    room = max(size - length, 0)
    if place < 16:
        return place * room // 15
    if place < 19:
        return room + place - 15
    return (1 << 63, U64_MAX)[place - 19]


#: Bits flipped in a live handle: neighbouring slots, other generations, the top bit.
MASKS = st.sampled_from((1, 2, 1 << 32, 1 << 33, 3 << 32, 1 << 63, U64_MAX))
#: Raw values no handle system issues for a live resource in the model's layout.
RAW_VALUES = st.sampled_from((0, U64_MAX, 1, 0xFFFF_FFFF, 1 << 63))
#: The calls of the rule ``use`` (the others have rules of their own): acquire and info
#: on a handle, and quiesce, which takes none.
USES = ("acquire", "info", "quiesce")
#: What a call on a handle passes: the live handle drawn, mostly; else (a misuse) a dead
#: handle, the live one with bits flipped, or a raw value (see OwnershipMachine._operand).
OPERANDS = st.sampled_from(("handle", "handle", "handle", "handle", "dead", "flipped", "raw"))
#: What swarm testing may leave out of an example: the calls of ``use``, snapshot,
#: release, and misuses (create and writes stay: without them little happens).
SWARM = ("read", "acquire", "info", "quiesce", "snapshot", "release", "misuse")
LEFT_OUT = st.just(frozenset()) | st.frozensets(st.sampled_from(SWARM), min_size=1, max_size=3)
_ON_HANDLE = {"acquire": Acquire, "info": Info}


@functools.lru_cache(maxsize=1024)
def _sampled(choices: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    """``sampled_from(choices)``, made once per tuple (a strategy is validated when first
    drawn from: a new one per step costs more than the step)."""
    return st.sampled_from(choices)


class Handle:
    """A value of the bundle ``handles``: the ``index``-th create or snapshot of the
    program (``h<index>``), which the model said succeeded. :meth:`alive` asks the
    machine's model whether its resource still lives (the bundle ``live`` is the
    ``handles`` that are alive when a step draws one)."""

    __slots__ = ("index", "_machine")

    def __init__(self, index: int, machine: "OwnershipMachine") -> None:
        self.index = index
        self._machine = machine

    def alive(self) -> bool:
        return self._machine._is_live(self.index)

    @property
    def ref(self) -> Ref:
        return Ref(self.index)

    def __repr__(self) -> str:
        return f"h{self.index}"


class _AllRulesOn:
    """Hypothesis's feature flags with every rule on (what its swarm testing draws)."""

    def is_enabled(self, name: object) -> bool:
        return True


class OwnershipMachine(RuleBasedStateMachine):
    """The state, the model's bookkeeping and the teardown check; the rules are added per
    kind of target (:func:`_with_rules`: single runtime, or a pair drawing ``via``), and
    the target by :func:`ownership_machine`."""

    #: the registered target this machine drives (the plugin's ``--fh-targets`` reads it)
    fuzzharness_target: ClassVar[str]
    _spec: ClassVar[TargetSpec]
    #: the variant and mutant given to ownership_machine (None: the plugin's options)
    _variant: ClassVar[str | None] = None
    _mutant: ClassVar[int | None] = None
    _timeout: ClassVar[float | None] = None
    _pair: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.config: Config | None = None
        self.ops: list[Op] = []
        self.model: OwnershipModel | None = None
        #: the model's value of each handle a create or snapshot produced (0: it failed)
        self.model_handles: list[int] = []
        #: the last create was refused because the table was full
        self.refused = False
        #: the kinds of call this example leaves out (swarm testing, see the module doc)
        self.left_out: frozenset[str] = frozenset()
        self._all_rules_on()
        type(self).configuration()  # a variant or mutant that cannot be fails the first example

    def _all_rules_on(self) -> None:
        """Turn Hypothesis's own swarm testing off for this machine (see the module doc):
        every rule is on in every example. If a Hypothesis release renames what this
        reaches into, its swarm simply stays on."""
        rules = getattr(self, "_rules_strategy", None)
        if rules is not None and hasattr(rules, "enabled_rules_strategy"):
            rules.enabled_rules_strategy = st.just(_AllRulesOn())

    # -- the model's bookkeeping -----------------------------------------------------------

    def _open(self, config: Config, left_out: frozenset[str] = frozenset()) -> None:
        self.config = config
        self.left_out = left_out
        deferred = config.strategy == "deferred"
        self.model = OwnershipModel(config.capacity, deferred, config.max_resource_bytes, config.max_total_bytes,
                                    pair=self._pair)  # fmt: skip

    def _apply(self, op: Op) -> tuple[int, Any]:
        """Append ``op`` to the program and advance the model; the model's (status, value)."""
        assert self.model is not None, "the session is opened by the initialize rule"
        operand = getattr(op, "handle", None)
        handle = None if operand is None else resolve(operand, self.model_handles)
        via = getattr(op, "via", None)
        call = getattr(self.model, op_name(op))
        if isinstance(op, Create):
            result = call(op.size, via)
        elif isinstance(op, Write):
            result = call(handle, op.offset, op.data, via)
        elif isinstance(op, Read):
            result = call(handle, op.offset, op.length, via)
        elif isinstance(op, (Stats, Quiesce)):
            result = call()
        else:
            result = call(handle, via)
        self.ops.append(op)
        if op.produces_handle:
            self.model_handles.append(result[1] if result[0] == Status.OK else 0)
        return result

    def _produce(self, op: Op) -> Any:
        """Apply a create or snapshot: its handle joins ``handles`` if the model says it succeeded."""
        index = len(self.model_handles)
        status, _ = self._apply(op)
        return multiple(Handle(index, self)) if status == Status.OK else multiple()

    def _any_live(self) -> bool:
        return any(self._is_live(k) for k, value in enumerate(self.model_handles) if value)

    def _may_create(self) -> bool:
        """A create is drawn while fewer than :data:`CROWD` resources live and the table has
        room, and once when it is full (to see it refused); then not again until a resource
        dies. (Hypothesis draws the first rule most often: creates would crowd out the
        calls, and ownership bugs live among a few resources.)"""
        if self.model is None or self.config is None:
            return False
        live = len(self.model.live)
        return live < min(CROWD, self.config.capacity) or (live < CROWD and not self.refused)

    def _may_snapshot(self) -> bool:
        """Snapshots are drawn while fewer than twice :data:`CROWD` resources live (else
        they pile up until the table is full and every later one is refused)."""
        assert self.model is not None
        return len(self.model.live) < 2 * CROWD

    def _is_live(self, index: int) -> bool:
        value = self.model_handles[index]
        model = self.model
        assert model is not None and self.config is not None
        return value != 0 and classify(value, self.config.capacity, model.generations, model.live) is None

    def _size(self, h: HandleOperand) -> int:
        """The size of the resource ``h`` names in the model (0 when it names none)."""
        assert self.model is not None
        status, info = self.model.info(resolve(h, self.model_handles))
        return info.size if status == Status.OK else 0

    def _dead(self) -> list[Ref]:
        return [Ref(k) for k, value in enumerate(self.model_handles) if value and not self._is_live(k)]

    def _uses(self) -> list[str]:
        """The calls of ``use`` this example makes."""
        return [call for call in USES if call not in self.left_out]

    def _operand(self, h: Handle, how: str, draw: st.DataObject) -> HandleOperand:
        """The handle a call passes: ``h`` itself, or instead (a misuse) a dead handle (a
        stale use; ``h`` when none is dead), ``h`` with bits flipped (``hK^mask``: derived
        from the target's OWN value), or a raw value."""
        if how == "handle" or "misuse" in self.left_out:
            return h.ref
        if how == "dead":
            return draw.draw(_sampled(tuple(self._dead() or [h.ref])), label="dead handle")
        if how == "flipped":
            return Tweak(h.index, draw.draw(MASKS, label="mask"))
        return Raw(draw.draw(RAW_VALUES, label="raw value"))

    # -- the verdict -------------------------------------------------------------------------

    @classmethod
    def configuration(cls) -> tuple[str, int]:
        """The (variant, mutant) this machine runs: its own, else the pytest plugin's
        options, else release and none. Raises InvalidArgument for one that cannot be."""
        options = active_options()
        variant = cls._variant or (options.variant if options else None) or "release"
        mutant = cls._mutant if cls._mutant is not None else (options.mutant if options else None) or 0
        _check_configuration(cls._spec, variant, mutant)
        return variant, mutant

    @classmethod
    def target(cls) -> LoadedTarget:
        """The machine's target, loaded in a worker shared by this process's examples."""
        variant, mutant = cls.configuration()
        return open_target(cls.fuzzharness_target, variant=variant, mutant=mutant, timeout=cls._timeout)

    def teardown(self) -> None:
        """Run the program on the target and check every step (see the module doc)."""
        __tracebackhide__ = True  # pytest shows the failure, not this frame
        if self.ops:  # (an example that drew no step has nothing of the target's to check)
            assert self.config is not None
            self.target().check_stepwise(Program(self.config, tuple(self.ops)))


def _with_rules(vias: st.SearchStrategy[str | None]) -> type[OwnershipMachine]:
    """The machine's rules, with ``vias`` the runtimes a call may go through (a pair: all
    of :data:`~fuzzharness.programs.sequential.VIAS`; a single runtime: the default only)."""

    class Rules(OwnershipMachine):
        handles = Bundle("handles")
        live = handles.filter(Handle.alive)

        @initialize(config=CONFIGS, left_out=LEFT_OUT)
        def open_session(self, config: Config, left_out: frozenset[str]) -> None:
            self._open(config, left_out)

        @precondition(lambda self: self._any_live())
        @rule(h=live, operand=OPERANDS, place=PLACES, data=DATA, via=vias, draw=st.data())
        def write(self, h: Handle, operand: str, place: int, data: bytes, via: str | None,
                  draw: st.DataObject) -> None:  # fmt: skip
            handle = self._operand(h, operand, draw)
            self._apply(Write(handle, _offset(place, self._size(handle), len(data)), data, via))

        @precondition(lambda self: "read" not in self.left_out and self._any_live())
        @rule(h=live, operand=OPERANDS, place=PLACES, span=SPANS, via=vias, draw=st.data())
        def read(self, h: Handle, operand: str, place: int, span: int, via: str | None, draw: st.DataObject) -> None:
            handle = self._operand(h, operand, draw)
            size = self._size(handle)
            if span:
                self._apply(Read(handle, _offset(place, size, span - 1), span - 1, via))
            else:  # the rest of the resource from an offset that fits
                offset = _offset(min(place, 15), size, 0)
                self._apply(Read(handle, offset, min(size - offset, MAX_READ_LEN), via))

        @precondition(lambda self: self._uses() and self._any_live())
        @rule(h=live, operand=OPERANDS, via=vias, draw=st.data())
        def use(self, h: Handle, operand: str, via: str | None, draw: st.DataObject) -> None:
            call = draw.draw(_sampled(tuple(self._uses())), label="call")
            self._apply(Quiesce() if call == "quiesce" else _ON_HANDLE[call](self._operand(h, operand, draw), via))

        @precondition(lambda self: self._may_create())
        @rule(target=handles, size=SIZES, via=vias)
        def create(self, size: int, via: str | None) -> Any:
            result = self._produce(Create(size, via))
            assert self.model is not None and self.config is not None
            self.refused = not result.values and len(self.model.live) >= self.config.capacity
            return result

        @precondition(lambda self: "snapshot" not in self.left_out and self._any_live() and self._may_snapshot())
        @rule(target=handles, h=live, operand=OPERANDS, via=vias, draw=st.data())
        def snapshot(self, h: Handle, operand: str, via: str | None, draw: st.DataObject) -> Any:
            return self._produce(Snapshot(self._operand(h, operand, draw), via))

        @precondition(lambda self: "release" not in self.left_out and self._any_live())
        @rule(h=live, operand=OPERANDS, via=vias, draw=st.data())
        def release(self, h: Handle, operand: str, via: str | None, draw: st.DataObject) -> None:
            self._apply(Release(self._operand(h, operand, draw), via))

    return Rules


_SINGLE_RUNTIME = _with_rules(st.none())
_PAIR = _with_rules(st.sampled_from(VIAS))


def ownership_machine(
    target: str,
    *,
    registry: str | Path | None = None,
    variant: str | None = None,
    mutant: int | str | None = None,
    timeout: float | None = None,
    settings: Settings | None = None,
) -> type[OwnershipMachine]:
    """A state machine driving the registered ``target``; its ``.TestCase`` is the test.

    ``variant`` and ``mutant`` (a number or a name such as ``"snapshot-shares"``; a
    variant with mutant injection): given here, they are checked now; else the pytest
    plugin's options (``--fh-variant``, ``--fh-mutant``) when the machine runs (so a
    machine that ``--fh-targets`` deselects never needs them), else ``release`` and none.
    ``registry``: a user registry file, made the registry of this process as
    ``--fh-registry`` does (call this before anything is checked, as at the import of a
    test module); the bundled targets are always there. ``timeout``: seconds a call may
    take before it is a hang finding. Raises :class:`~fuzzharness.errors.InvalidArgument`
    naming an unknown target, variant or mutant, or a mutant on a variant that cannot
    inject one; a target that is not built fails its test with the command that builds it."""
    if registry is not None:
        from fuzzharness.contract.registry import use_registry

        use_registry(Path(registry))
    specs = load_target_registry()
    if target not in specs:
        raise InvalidArgument(f"ownership_machine: unknown target {target!r}; registered: {', '.join(specs)}")
    spec = specs[target]
    number = None if mutant is None else mutant_number(mutant)
    if variant is not None or number is not None:
        _check_configuration(spec, variant or "release", number or 0)
    args = [repr(target)] + ([f"variant={variant!r}"] if variant is not None else [])
    if number is not None:
        args.append(f"mutant={mutant_label(number)!r}")
    name = f"ownership_machine({', '.join(args)})"
    namespace = {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"The ownership state machine of target {target!r}.",
        "fuzzharness_target": target,
        "_spec": spec,
        "_variant": variant,
        "_mutant": number,
        "_timeout": timeout,
        "_pair": spec.pair,
    }
    machine = type(name, (_PAIR if spec.pair else _SINGLE_RUNTIME,), namespace)
    # Hypothesis's defaults for a state machine, less the explain phase: it traces every
    # line the check runs, which made a failing run three times slower (4.5 s -> 13 s)
    # to point at lines of the harness rather than of the library.
    defaults = machine.TestCase.settings
    machine.TestCase.settings = Settings(defaults, phases=tuple(p for p in defaults.phases if p is not Phase.explain))
    if settings is not None:
        machine = settings(machine)
    return machine


def _check_configuration(spec: TargetSpec, variant: str, mutant: int) -> None:
    """Raise InvalidArgument unless ``spec`` has ``variant`` and it can inject ``mutant``."""
    testing = spec.variant(variant).testing
    if mutant and not testing:
        raise InvalidArgument(f"ownership_machine: target {spec.name!r} variant {variant!r} cannot inject mutant "
                              f"{mutant_label(mutant)!r}: choose a variant built with mutant injection "
                              f"(testing = true), e.g. --fh-variant mutants")  # fmt: skip
