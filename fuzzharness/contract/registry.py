"""The target registry: which implementations of the contract exist and how to build them.

Targets are declared in ``targets/registry.toml`` (see the comment at its top), so a
third implementation is added there without touching harness code. This module
parses and validates that file into :class:`TargetSpec` values, and builds targets
(:func:`build`), naming any missing toolchain before running anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from fuzzharness.contract.handles import EXACT, HandlePolicy, parse_policy
from fuzzharness.contract.header import PROJECT_ROOT, Strategy
from fuzzharness.errors import BuildFailed, CorruptInput, InvalidArgument, MissingToolchain, TargetNotBuilt

__all__ = ["Variant", "TargetSpec", "load_registry", "REGISTRY_FILE", "BUILD_DIR", "build", "select_targets"]

REGISTRY_FILE = PROJECT_ROOT / "targets" / "registry.toml"
BUILD_DIR = PROJECT_ROOT / "build"

_TOOL_HINTS = {
    "cargo": "install Rust with rustup (https://rustup.rs)",
    "go": "install Go >= 1.24 (https://go.dev/dl)",
    "gcc": "install a C compiler (Debian: apt-get install gcc)",
}


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
                f"run 'fuzzharness build --target {self.name} --variant {variant}'"
            )
        return path


def _expand(text: str, root: Path) -> str:
    return text.replace("{root}", str(root)).replace("{build}", str(root / "build"))


def _strategy(name: str, where: str) -> Strategy:
    try:
        return Strategy[name]
    except KeyError:
        raise CorruptInput(f"{where}: unknown strategy {name!r} (known: {', '.join(Strategy.__members__)})") from None


SANITIZERS = ("asan",)


def _sanitizer(name: object, where: str) -> str | None:
    if name is None:
        return None
    if name not in SANITIZERS:
        raise CorruptInput(f"{where}: unknown sanitizer {name!r} (known: {', '.join(SANITIZERS)})")
    return str(name)


def load_registry(path: Path = REGISTRY_FILE, root: Path = PROJECT_ROOT) -> dict[str, TargetSpec]:
    """Parse and validate the registry file; raises CorruptInput naming what is wrong."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CorruptInput(f"{path}: {exc}") from None
    targets = {}
    pairs = {}
    for name, entry in data.get("targets", {}).items():
        where = f"{path} [targets.{name}]"
        if "pair" in entry:
            pairs[name] = entry  # resolved once every single-runtime target is known
            continue
        try:
            variants = {
                vname: Variant(
                    name=vname,
                    build=tuple(_expand(arg, root) for arg in v["build"]),
                    library=Path(_expand(v["library"], root)),
                    testing=bool(v.get("testing", False)),
                    env={str(k): str(val) for k, val in v.get("env", {}).items()},
                    sanitizer=_sanitizer(v.get("sanitizer"), f"{where} variant {vname!r}"),
                    coverage_of=str(v["coverage_of"]) if "coverage_of" in v else None,
                )
                for vname, v in entry["variants"].items()
            }
            strategies = tuple(_strategy(s, where) for s in entry["strategies"])
            deferred = _strategy(entry["deferred"], where)
            targets[name] = TargetSpec(
                name=name,
                language=str(entry["language"]),
                source=root / entry["source"],
                requires=tuple(entry.get("requires", ())),
                strategies=strategies,
                deferred=deferred,
                variants=variants,
                immediate=_strategy(entry.get("immediate", "IMMEDIATE"), where),
                policy=parse_policy(entry, where),
            )
        except KeyError as exc:
            raise CorruptInput(f"{where}: missing key {exc}") from None
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
    for name, entry in pairs.items():
        targets[name] = _pair_spec(name, entry, targets, f"{path} [targets.{name}]")
    if not targets:
        raise CorruptInput(f"{path}: no [targets.*] tables")
    return targets


PAIR_ROLES = ("owner", "foreign")


def _pair_spec(name: str, entry: dict, singles: dict[str, TargetSpec], where: str) -> TargetSpec:
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
    try:
        strategies = tuple(_strategy(s, where) for s in entry["strategies"])
        deferred = _strategy(entry["deferred"], where)
        immediate = _strategy(entry["immediate"], where)
    except KeyError as exc:
        raise CorruptInput(f"{where}: missing key {exc}") from None
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
    return TargetSpec(
        name=name,
        language=str(entry.get("language", f"{foreign.language} front over {owner.language}")),
        source=foreign.source,
        requires=tuple(dict.fromkeys(owner.requires + foreign.requires)),
        strategies=strategies,
        deferred=deferred,
        variants=variants,
        immediate=immediate,
        members=members,
        policy=parse_policy(entry, where),
    )


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


def missing_tools(spec: TargetSpec) -> list[str]:
    return [tool for tool in spec.requires if shutil.which(tool) is None]


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
    v.library.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **v.env}
    proc = subprocess.run(
        v.build,
        cwd=spec.source,
        env=env,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout or "").splitlines()[-30:])
        raise BuildFailed(f"building {spec.name} ({variant}) failed: {' '.join(v.build)}\n{tail}".rstrip())
    if not v.library.is_file():
        raise BuildFailed(f"building {spec.name} ({variant}) produced no {v.library}")
    return v.library
