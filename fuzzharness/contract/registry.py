"""The target registry: which implementations of the contract exist and how to build them.

Targets are declared in TOML (see the comment at the top of ``targets/registry.toml``),
so an implementation is added without touching harness code. This module parses and
validates registry files into :class:`TargetSpec` values, and builds targets
(:func:`build`), naming any missing toolchain before running anything.

Two files make the registry a command sees (:func:`load_registry` without arguments):

* the **bundled** ``targets/registry.toml`` (the project's own shims and their pair);
* a **user registry** (``--registry FILE`` on the command line, which sets the
  environment variable :data:`REGISTRY_ENV`, so every child process of the command
  reads the same file): its targets are ADDED to the bundled ones, so a team
  cross-checks its own library against the bundled shims (``--targets mylib,rust``).
  A name defined by both files is an error naming both.

Paths in a registry file are relative to its **root**: the top-level ``root`` key,
itself relative to the file's directory (default ``"."``: the file's directory; the
bundled file says ``".."``, the project root). ``{root}`` expands to that directory
and ``{build}`` to ``{root}/build``, in ``source``, ``requires``, and every variant's
``build`` argv, ``library`` and ``env`` values, so a user's build outputs land under
the user's own directory. Every spec holds absolute paths.

Guarantees: a file that is missing, not a regular file, unreadable, not UTF-8, not
TOML (deep nesting included), or that has an unknown key, a value of the wrong type,
an unknown placeholder, strategy or sanitizer, raises one-line
:class:`~fuzzharness.errors.InvalidArgument` (the file cannot be opened) or
:class:`~fuzzharness.errors.CorruptInput` (its content is wrong), naming the file and,
inside it, the table and the key.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzharness.contract.handles import EXACT, HandlePolicy, parse_policy
from fuzzharness.contract.header import PROJECT_ROOT, Strategy
from fuzzharness.errors import BuildFailed, CorruptInput, InvalidArgument, MissingToolchain, TargetNotBuilt

__all__ = ["Variant", "TargetSpec", "load_registry", "user_registry", "use_registry", "REGISTRY_FILE",
           "REGISTRY_ENV", "BUILD_DIR", "build", "select_targets", "missing_tools"]  # fmt: skip

#: The bundled registry (the project's own shims).
REGISTRY_FILE = PROJECT_ROOT / "targets" / "registry.toml"
BUILD_DIR = PROJECT_ROOT / "build"
#: The environment variable naming the user registry (set by ``--registry``; absolute).
REGISTRY_ENV = "FUZZHARNESS_REGISTRY"

_TOOL_HINTS = {
    "cargo": "install Rust with rustup (https://rustup.rs)",
    "go": "install Go >= 1.24 (https://go.dev/dl)",
    "gcc": "install a C compiler (Debian: apt-get install gcc)",
}

#: The keys a registry file may hold, per table (anything else is a typo: refused, named).
FILE_KEYS = ("root", "targets")
TARGET_KEYS = ("language", "source", "requires", "strategies", "deferred", "immediate", "variants",
               "handles", "reuse", "stale_status")  # fmt: skip
PAIR_KEYS = ("pair", "language", "strategies", "deferred", "immediate", "handles", "reuse", "stale_status")
VARIANT_KEYS = ("build", "library", "testing", "env", "sanitizer", "coverage_of")
#: The placeholders expanded in paths, argv, env values and requires.
PLACEHOLDERS = ("root", "build")
SANITIZERS = ("asan",)
PAIR_ROLES = ("owner", "foreign")


@dataclass(frozen=True)
class Variant:
    name: str
    build: tuple[str, ...]
    library: Path
    testing: bool = False
    env: dict[str, str] = field(default_factory=dict)
    #: "asan" when built with AddressSanitizer: workers get libasan preloaded and
    #: LeakSanitizer checks (:mod:`fuzzharness.oracles.sanitizer`); None for plain builds.
    sanitizer: str | None = None
    #: for a libFuzzer coverage build (:mod:`fuzzharness.lanes.coverage`): the variant that is
    #: the same build without instrumentation, on which findings are replayed; else None.
    coverage_of: str | None = None


@dataclass(frozen=True)
class TargetSpec:
    name: str
    language: str
    source: Path
    requires: tuple[str, ...]
    strategies: tuple[Strategy, ...]
    deferred: Strategy
    variants: dict[str, Variant]
    #: the strategy used for the ``immediate`` class (IMMEDIATE; a pair: GUARDED)
    immediate: Strategy = Strategy.IMMEDIATE
    #: a cross-runtime pair: role ("owner", "foreign") -> the member target's spec.
    #: None for a single-runtime target. A pair's variants are those of its members
    #: (building one builds both); its ``library`` is the foreign front's.
    members: dict[str, "TargetSpec"] | None = None
    #: what the target promises about its handle values (registry: handles, reuse,
    #: stale_status); the bundled shims are exact
    policy: HandlePolicy = EXACT
    #: the registry file that declared the target (None: made up in code)
    registry: Path | None = None

    @property
    def pair(self) -> bool:
        return self.members is not None

    def libraries(self, variant: str = "release") -> dict[str, Path]:
        """The built libraries by role (``{"single": path}`` for a single-runtime
        target); raises TargetNotBuilt naming the first one missing."""
        if self.members is None:
            return {"single": self.library(variant)}
        self.variant(variant)
        return {role: member.library(variant) for role, member in self.members.items()}

    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            raise InvalidArgument(
                f"target {self.name!r} has no build variant {name!r} (it has: {', '.join(self.variants)})"
            ) from None

    def library(self, variant: str = "release") -> Path:
        """The built library of a variant; raises TargetNotBuilt if it is missing (for
        a pair: if either member's is; the foreign front's library is returned)."""
        if self.members is not None:
            return self.libraries(variant)["foreign"]
        path = self.variant(variant).library
        if not path.is_file():
            raise TargetNotBuilt(
                f"target {self.name!r} ({variant}) is not built: {path} is missing; "
                f"run 'fuzzharness{_registry_option(self)} build --target {self.name} --variant {variant}'"
            )
        return path


def _registry_option(spec: TargetSpec) -> str:
    """`` --registry FILE`` when the spec comes from a user registry (for hints)."""
    return "" if spec.registry in (None, REGISTRY_FILE) else f" --registry {spec.registry}"


# --------------------------------------------------------------------------- reading files


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; InvalidArgument if it cannot be opened, CorruptInput if it is no TOML."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InvalidArgument(f"registry file {path}: {_one_line(exc.strerror or exc)}") from None
    if not stat.S_ISREG(mode):  # a directory, a FIFO (which would block), a device
        raise InvalidArgument(f"registry file {path}: not a regular file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"registry file {path}: {_one_line(exc.strerror or exc)}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CorruptInput(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CorruptInput(f"{path}: not valid TOML: {_one_line(exc)}") from None
    except RecursionError:  # tomllib recurses per nesting level
        raise CorruptInput(f"{path}: not valid TOML: nested too deeply") from None


def _check_keys(table: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = [k for k in table if k not in known]
    if unknown:
        raise CorruptInput(f"{where}: unknown key {unknown[0]!r} (known keys: {', '.join(known)})")


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CorruptInput(f"{where}: must be a table, got {type(value).__name__} {_one_line(repr(value))[:60]}")
    return value


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise CorruptInput(f"{where}: missing key {key!r}")
        return default
    value = table[key]
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise CorruptInput(f"{where}: {key} must be a {names}, got {_one_line(repr(value))[:60]}")
    return value


def _strings(table: dict[str, Any], key: str, where: str, default: Any = ...) -> list[str]:
    value = _get(table, key, list, where, default)
    if not all(isinstance(item, str) for item in value):
        raise CorruptInput(f"{where}: {key} must be a list of strings, got {_one_line(repr(value))[:60]}")
    return value


class _Expander:
    """``{root}`` and ``{build}`` of one registry file; relative paths against its root."""

    def __init__(self, root: Path, path: Path) -> None:
        self.root = root
        self.path = path

    def text(self, value: str, where: str) -> str:
        for name in re.findall(r"(?<!\$)\{(\w*)\}", value):
            if name not in PLACEHOLDERS:
                raise CorruptInput(
                    f"{where}: unknown placeholder {{{name}}} in {value!r} "
                    f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
                )
        return value.replace("{root}", str(self.root)).replace("{build}", str(self.root / "build"))

    def path_of(self, value: str, where: str) -> Path:
        return self.root / self.text(value, where)  # an absolute expansion replaces the root


def _file_root(data: dict[str, Any], path: Path, root: Path | None) -> Path:
    if root is not None:
        return Path(root).absolute()
    text = _get(data, "root", str, str(path), ".")
    if "{" in text:
        raise CorruptInput(f"{path}: root = {text!r}: placeholders are not allowed in root")
    return Path(os.path.normpath(path.parent.absolute() / text))


def _strategy(name: object, where: str) -> Strategy:
    if not isinstance(name, str) or name not in Strategy.__members__:
        raise CorruptInput(f"{where}: unknown strategy {name!r} (known: {', '.join(Strategy.__members__)})")
    return Strategy[name]


def _sanitizer(name: object, where: str) -> str | None:
    if name is None:
        return None
    if name not in SANITIZERS:
        raise CorruptInput(f"{where}: unknown sanitizer {name!r} (known: {', '.join(SANITIZERS)})")
    return str(name)


def _variant(vname: str, v: object, expand: _Expander, where: str) -> Variant:
    where = f"{where} variant {vname!r}"
    v = _table(v, where)
    _check_keys(v, VARIANT_KEYS, where)
    env = _table(_get(v, "env", dict, where, {}), f"{where} env")
    for key, val in env.items():
        if not isinstance(val, (str, int)) or isinstance(val, bool):
            raise CorruptInput(f"{where}: env {key} must be a string, got {_one_line(repr(val))[:60]}")
    argv = _strings(v, "build", where)
    if not argv:
        raise CorruptInput(f"{where}: build must name a command (a non-empty list of strings)")
    coverage_of = _get(v, "coverage_of", str, where, None)
    return Variant(
        name=vname,
        build=tuple(expand.text(arg, where) for arg in argv),
        library=expand.path_of(_get(v, "library", str, where), where),
        testing=_get(v, "testing", bool, where, False),
        env={str(k): expand.text(str(val), where) for k, val in env.items()},
        sanitizer=_sanitizer(v.get("sanitizer"), where),
        coverage_of=coverage_of,
    )


def _single_spec(name: str, entry: dict[str, Any], expand: _Expander, where: str) -> TargetSpec:
    _check_keys(entry, TARGET_KEYS, where)
    variants_table = _table(_get(entry, "variants", dict, where), f"{where} variants")
    variants = {vname: _variant(vname, v, expand, where) for vname, v in variants_table.items()}
    strategies = tuple(_strategy(s, where) for s in _get(entry, "strategies", list, where))
    deferred = _strategy(_get(entry, "deferred", str, where), where)
    if "release" not in variants:
        raise CorruptInput(f"{where}: every target needs a 'release' variant")
    for vname, v in variants.items():
        if v.coverage_of is not None and (v.coverage_of not in variants or variants[v.coverage_of].coverage_of):
            raise CorruptInput(
                f"{where} variant {vname!r}: coverage_of must name an uninstrumented variant of the target, "
                f"got {v.coverage_of!r}"
            )
    if deferred not in strategies:
        raise CorruptInput(f"{where}: deferred strategy {deferred.name} is not in its strategies")
    return TargetSpec(
        name=name,
        language=str(_get(entry, "language", str, where)),
        source=expand.path_of(_get(entry, "source", str, where), where),
        requires=tuple(expand.text(tool, where) for tool in _strings(entry, "requires", where, [])),
        strategies=strategies,
        deferred=deferred,
        variants=variants,
        immediate=_strategy(_get(entry, "immediate", str, where, "IMMEDIATE"), where),
        policy=parse_policy(entry, where),
        registry=expand.path,
    )


@dataclass
class _ParsedFile:
    path: Path
    singles: dict[str, TargetSpec]
    pairs: dict[str, tuple[dict[str, Any], str]]  # name -> (its table, where)


def _parse_file(path: Path, root: Path | None) -> _ParsedFile:
    path = Path(path).absolute()
    data = _read_toml(path)
    _check_keys(data, FILE_KEYS, str(path))
    expand = _Expander(_file_root(data, path, root), path)
    tables = _table(data.get("targets", {}), f"{path} [targets]")
    if not tables:
        raise CorruptInput(f"{path}: no [targets.*] tables")
    parsed = _ParsedFile(path, {}, {})
    for name, entry in tables.items():
        where = f"{path} [targets.{name}]"
        if not name or "," in name or name != name.strip():
            raise CorruptInput(f"{where}: a target name must be non-empty, without commas or outer spaces")
        entry = _table(entry, where)
        if "pair" in entry:
            _check_keys(entry, PAIR_KEYS, where)
            parsed.pairs[name] = (entry, where)  # resolved once every single-runtime target is known
        else:
            parsed.singles[name] = _single_spec(name, entry, expand, where)
    return parsed


def _pair_spec(name: str, entry: dict, singles: dict[str, TargetSpec], where: str, path: Path) -> TargetSpec:
    """A cross-runtime pair: two registered single-runtime targets loaded into one
    worker (owner first, foreign front last) and attached through the contract."""
    pair = entry["pair"]
    if not isinstance(pair, dict) or set(pair) != set(PAIR_ROLES):
        raise CorruptInput(f"{where}: pair must be {{owner = TARGET, foreign = TARGET}}, got {pair!r}")
    members = {}
    for role in PAIR_ROLES:
        if pair[role] not in singles:
            raise CorruptInput(f"{where}: pair {role} {pair[role]!r} is not a single-runtime target of the registry")
        members[role] = singles[pair[role]]
    strategies = tuple(_strategy(s, where) for s in _get(entry, "strategies", list, where))
    deferred = _strategy(_get(entry, "deferred", str, where), where)
    immediate = _strategy(_get(entry, "immediate", str, where), where)
    for strategy in (deferred, immediate):
        if strategy not in strategies:
            raise CorruptInput(f"{where}: strategy {strategy.name} is not in its strategies")
    owner, foreign = members["owner"], members["foreign"]
    variants = {}
    for vname, fv in foreign.variants.items():
        ov = owner.variants.get(vname)
        # Coverage builds are left out: the coverage lane drives single-runtime targets.
        if ov is None or fv.coverage_of or ov.coverage_of or ov.sanitizer != fv.sanitizer:
            continue
        variants[vname] = Variant(vname, (), fv.library, testing=ov.testing or fv.testing, sanitizer=fv.sanitizer)
    if "release" not in variants:
        raise CorruptInput(f"{where}: the pair's members have no common 'release' variant")
    language = _get(entry, "language", str, where, f"{foreign.language} front over {owner.language}")
    return TargetSpec(
        name=name,
        language=language,
        source=foreign.source,
        requires=tuple(dict.fromkeys(owner.requires + foreign.requires)),
        strategies=strategies,
        deferred=deferred,
        variants=variants,
        immediate=immediate,
        members=members,
        policy=parse_policy(entry, where),
        registry=path,
    )


# --------------------------------------------------------------------------- the registry


def user_registry() -> Path | None:
    """The user registry named by :data:`REGISTRY_ENV` (absolute), or None when unset
    or when it names the bundled file itself."""
    value = os.environ.get(REGISTRY_ENV, "").strip()
    if not value:
        return None
    path = Path(value).absolute()
    try:
        if path.exists() and path.resolve() == REGISTRY_FILE.resolve():
            return None
    except OSError:
        pass  # reading it fails with the reason, naming the file
    return path


def use_registry(path: Path | str) -> Path:
    """Make ``path`` the user registry of this process and of every process it starts
    (:data:`REGISTRY_ENV`, absolute), after checking it loads together with the bundled
    one; returns the absolute path. Raises as :func:`load_registry`."""
    absolute = Path(path).absolute()
    os.environ[REGISTRY_ENV] = str(absolute)
    load_registry()
    return absolute


def load_registry(path: Path | None = None, root: Path | None = None) -> dict[str, TargetSpec]:
    """The targets a command sees.

    Without ``path``: the bundled registry plus the user registry of :data:`REGISTRY_ENV`
    (if set), bundled targets first; a name in both files is a CorruptInput naming both.
    With ``path``: that one file alone (``root`` overrides its root directory).
    """
    if path is not None:
        files = [_parse_file(Path(path), root)]
    else:
        files = [_parse_file(REGISTRY_FILE, None)]
        user = user_registry()
        if user is not None:
            try:
                files.append(_parse_file(user, None))
            except InvalidArgument as exc:
                raise InvalidArgument(f"{exc} (named by --registry or ${REGISTRY_ENV})") from None
    origin: dict[str, Path] = {}
    singles: dict[str, TargetSpec] = {}
    for parsed in files:
        for name in list(parsed.singles) + list(parsed.pairs):
            if name in origin:
                raise CorruptInput(
                    f"{parsed.path}: target {name!r} is already defined by {origin[name]}; rename it in one of them"
                )
            origin[name] = parsed.path
        singles.update(parsed.singles)
    targets = dict(singles)
    for parsed in files:
        for name, (entry, where) in parsed.pairs.items():
            targets[name] = _pair_spec(name, entry, singles, where, parsed.path)
    return {name: targets[name] for name in origin}  # in file order


def select_targets(names: str | list[str], registry: dict[str, TargetSpec] | None = None) -> list[TargetSpec]:
    """Resolve ``"rust,go"`` (or a list) into specs; unknown names are an InvalidArgument."""
    registry = registry if registry is not None else load_registry()
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    wanted = [n for n in wanted if n]
    unknown = [n for n in wanted if n not in registry]
    if unknown or not wanted:
        raise InvalidArgument(
            f"unknown target(s) {', '.join(unknown) or '(none given)'}; registered: {', '.join(registry)}"
        )
    return [registry[n] for n in dict.fromkeys(wanted)]


# --------------------------------------------------------------------------- building


def missing_tools(spec: TargetSpec) -> list[str]:
    return [tool for tool in spec.requires if shutil.which(tool) is None]


def check_tools(specs: list[TargetSpec]) -> None:
    """Before building ``specs`` (pairs through their members): MissingToolchain naming
    every missing tool at once, with the targets that need it and how to get it."""
    needed: dict[str, list[str]] = {}
    for spec in specs:
        for member in spec.members.values() if spec.members is not None else [spec]:
            for tool in missing_tools(member):
                needed.setdefault(tool, [])
                if member.name not in needed[tool]:
                    needed[tool].append(member.name)
    if needed:
        parts = "; ".join(f"{tool} (for {', '.join(names)}): {_TOOL_HINTS.get(tool, 'install it')}"
                          for tool, names in needed.items())  # fmt: skip
        raise MissingToolchain(f"cannot build: missing {', '.join(needed)} -- {parts}")


def build(spec: TargetSpec, variant: str = "release", quiet: bool = False) -> Path:
    """Build one variant of a target; returns the library path.

    Raises MissingToolchain (naming the tool and how to get it) before running
    anything, and BuildFailed with the tail of the compiler output.
    """
    v = spec.variant(variant)
    if spec.members is not None:  # a pair: build both members
        for member in spec.members.values():
            build(member, variant, quiet)
        return spec.library(variant)
    missing = missing_tools(spec)
    if missing:
        hints = "; ".join(f"{tool}: {_TOOL_HINTS.get(tool, 'install it')}" for tool in missing)
        raise MissingToolchain(f"cannot build target {spec.name!r}: missing {', '.join(missing)} ({hints})")
    if not spec.source.is_dir():
        raise BuildFailed(f"cannot build target {spec.name!r}: its source directory {spec.source} does not exist "
                          f"(source in {spec.registry})")  # fmt: skip
    v.library.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **v.env}
    try:
        proc = subprocess.run(
            v.build,
            cwd=spec.source,
            env=env,
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
        )
    except OSError as exc:  # the command itself is missing or not executable
        raise BuildFailed(f"building {spec.name} ({variant}) failed: {v.build[0]}: {_one_line(exc.strerror or exc)}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout or "").splitlines()[-30:])
        raise BuildFailed(f"building {spec.name} ({variant}) failed: {' '.join(v.build)}\n{tail}".rstrip())
    if not v.library.is_file():
        raise BuildFailed(f"building {spec.name} ({variant}) produced no {v.library}")
    return v.library
