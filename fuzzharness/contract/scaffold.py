"""Scaffold an adapter of the contract for a library nobody here wrote.

``fuzzharness new-target NAME --language rust|go [--dir DIR]`` calls :func:`new_target`,
which writes a complete, CORRECT skeleton adapter (resources in a map, handles from
a counter, on the language's adapter kit under ``kits/``) and its out-of-tree
``registry.toml`` (``handles = "opaque"``; paths relative to that file; built into
``{build}``), so that the freshly written target builds and passes a fuzz run before
the user replaces the map with their library.

Templates live in ``fuzzharness/contract/templates/<language>/``: every file below
that directory is written to the same relative path under the target directory. A
file whose name ends in ``.tmpl`` is text: the suffix is dropped and every
``{{placeholder}}`` is replaced (see :func:`placeholders`); an unknown placeholder
is an error naming the template, so a typo never reaches a user. Other files are
copied byte for byte. Placeholders may also appear in relative paths.

Guarantees: NAME is a safe identifier (``[a-z][a-z0-9_]*``, at most 64 characters,
no keyword of Rust or Go, no crate the adapter depends on, no target of the bundled
registry) and is refused otherwise; no existing file is ever overwritten: every
destination is checked before the first is written, and each is created
exclusively, so a refused call writes nothing.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from fuzzharness.contract.header import DECLS_HEADER, INCLUDE_DIR, PROJECT_ROOT
from fuzzharness.errors import CorruptInput, InvalidArgument

__all__ = ["new_target", "languages", "placeholders", "validate_name", "TEMPLATES", "KITS"]

#: One directory of templates per language.
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: The adapter kit each language's adapter depends on (by absolute path).
KITS = {"rust": PROJECT_ROOT / "kits" / "rust", "go": PROJECT_ROOT / "kits" / "go"}
#: Name of a text template file: the suffix dropped from the written file.
TEMPLATE_SUFFIX = ".tmpl"

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")

_RUST_KEYWORDS = """as async await break const continue crate dyn else enum extern false fn for gen if impl
in let loop match mod move mut pub ref return self static struct super trait true type unsafe use where
while abstract become box do final macro override priv try typeof unsized virtual yield"""
_GO_KEYWORDS = """break case chan const continue default defer else fallthrough for func go goto if import
interface map package range return select struct switch type var"""
#: Names a package or crate cannot take (std's crates, the kits' own names, main).
_TAKEN = "test std core alloc proc_macro main fuzzharness fuzzharness_adapter fhadapter"
_RESERVED = frozenset((_RUST_KEYWORDS + " " + _GO_KEYWORDS + " " + _TAKEN).split())


def languages() -> list[str]:
    """The languages that have templates."""
    if not TEMPLATES.is_dir():
        return []
    return sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def _bundled_targets() -> set[str]:
    path = PROJECT_ROOT / "targets" / "registry.toml"
    try:
        return set(tomllib.loads(path.read_text()).get("targets", {}))
    except (OSError, tomllib.TOMLDecodeError, RecursionError):
        return set()  # the registry's own checks report a broken file


def validate_name(name: str) -> str:
    """``name`` if it is a safe target name, else :class:`~fuzzharness.errors.InvalidArgument`
    saying why. It becomes the registry key, the Rust crate / Go module name and the
    library's file name (``lib<name>.so``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"target name {name!r} is not a safe identifier: use a lowercase ASCII letter, then lowercase "
            "letters, digits or '_' (at most 64 characters), e.g. 'mylib'"
        )
    if name in _RESERVED:
        raise InvalidArgument(f"target name {name!r} is a keyword or a reserved crate/package name; choose another")
    if name in _bundled_targets():
        raise InvalidArgument(f"target name {name!r} is a bundled target of fuzzharness; choose another")
    return name


def placeholders(name: str) -> dict[str, str]:
    """The values of the templates' placeholders for target ``name``:

    * ``name``: the target name (registry key, crate / module name, ``lib<name>.so``);
    * ``kit_rust``, ``kit_go``: absolute paths of the adapter kits (``kits/rust``, ``kits/go``);
    * ``include_dir``, ``header``: absolute paths of ``targets/include`` and of the
      canonical header ``fuzzharness_decls.h``;
    * ``project_root``: the absolute path of this fuzzharness checkout.
    """
    values = {
        "name": name,
        "kit_rust": str(KITS["rust"]),
        "kit_go": str(KITS["go"]),
        "include_dir": str(INCLUDE_DIR),
        "header": str(DECLS_HEADER),
        "project_root": str(PROJECT_ROOT),
    }
    for key, value in values.items():
        if any(c in value for c in '"\\\n\r\t') or not value.isprintable():
            raise InvalidArgument(
                f"{key} = {value!r} contains a quote, backslash or control character, which the generated "
                "TOML / go.mod cannot hold; move fuzzharness to a plainer path"
            )
    return values


def _render(text: str, values: dict[str, str], where: Path) -> str:
    def replace(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise CorruptInput(
                f"{where}: unknown placeholder {m.group(0)} (known: {', '.join('{{' + k + '}}' for k in values)})"
            )
        return values[m.group(1)]

    return _PLACEHOLDER.sub(replace, text)


def _plan(template_dir: Path, directory: Path, values: dict[str, str]) -> dict[Path, bytes]:
    """Destination -> content, for every file of ``template_dir``."""
    plan: dict[Path, bytes] = {}
    for template in sorted(template_dir.rglob("*")):
        if not template.is_file() or "__pycache__" in template.parts:
            continue
        relative = _render(template.relative_to(template_dir).as_posix(), values, template)
        if template.name.endswith(TEMPLATE_SUFFIX):
            relative = relative.removesuffix(TEMPLATE_SUFFIX)
            content = _render(template.read_text(), values, template).encode()
        else:
            content = template.read_bytes()
        destination = directory / relative
        if destination in plan:
            raise CorruptInput(f"{template}: a second template for {relative}")
        plan[destination] = content
    if not plan:
        raise CorruptInput(f"{template_dir}: no template files")
    return plan


def new_target(name: str, language: str, directory: Path) -> list[Path]:
    """Write the skeleton adapter ``name`` in ``language`` and its ``registry.toml`` into
    ``directory`` (created if missing; the command line's default is ``./NAME``).

    Returns the files written, in order. Raises :class:`~fuzzharness.errors.InvalidArgument`
    for a bad name or language, a missing kit, or a file that exists already (naming
    it; nothing is written then)."""
    validate_name(name)
    known = languages()
    if language not in known:
        raise InvalidArgument(
            f"new-target has no templates for language {language!r} (it has: {', '.join(known) or 'none'})"
        )
    kit = KITS.get(language)
    if kit is not None and not kit.is_dir():
        raise InvalidArgument(
            f"the {language} adapter kit is missing at {kit}: new-target needs a full fuzzharness checkout"
        )
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InvalidArgument(f"{directory} is a file, not a directory for the new target")
    plan = _plan(TEMPLATES / language, directory, placeholders(name))
    for destination in plan:
        if destination.exists() or destination.is_symlink():
            raise InvalidArgument(
                f"{destination} exists already: new-target never overwrites a file; remove it or choose another --dir"
            )
    written = []
    for destination, content in plan.items():
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with destination.open("xb") as out:
                out.write(content)
        except FileExistsError:
            raise InvalidArgument(
                f"{destination} appeared while new-target was writing; it was left as it is"
            ) from None
        written.append(destination)
    return written
