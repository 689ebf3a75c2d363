"""ABI drift check: every registered target's exports against the contract header.

The header (``targets/include/fuzzharness_decls.h`` plus the testing companion) is
canonical. For every single-runtime target of the registry (bundled and the user's;
a pair is checked as its two members), :func:`check_targets`:

* **reads its sources** under the target's ``source`` directory where it can: Rust
  (every ``.rs`` file outside ``target/``, ``tests/``, ``examples/``, ``benches/``:
  ``extern "C" fn fh_*`` exports and ``#[repr(C)]`` structs) and Go (cgo
  ``//export fh_*`` functions), and fails when a function is missing, extra, or has
  other parameter or return types or names, and when a Rust struct differs field by
  field from its C struct. A Rust struct may have its own name: it stands for the
  header's struct that the exports pass in its place (``fh_init(config: *mut Config)``
  makes ``Config`` the ``fh_config``);
* with ``built=True`` **reads each built library's exported symbols** (``nm -D``) and
  compares them with the functions of the ABI version the library itself reports: its
  ``fh_abi_version`` is called in a separate Python process (a Go library is never
  loaded into the harness's process). So a 1.0 library, which the harness drives
  fine, is not asked for 1.1 functions; a ``testing`` variant must also export the
  test-only ones;
* says how each target was checked and names what it could not check and why (no
  sources found, a variant not built, ``nm`` missing): that is no failure. Only drift is.

Which functions and structs each minor version added is read from the header itself:
a declaration belongs to the version of the section banner above it
(``* 1.1: RECLAMATION EVENTS``), 1.0 before any versioned banner (:func:`header_minors`).
Sources declare no version, so theirs is the highest minor of any contract function they
export (a source that exports one 1.1 function must export all of 1.1).

(The Go shim has a second, independent guard: its cgo preamble includes the header,
so the C compiler rejects an export whose prototype differs.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from fuzzharness.contract.header import ABI_MAJOR, DECLS_HEADER, PROJECT_ROOT, TESTING_DECLS_HEADER
from fuzzharness.contract.registry import TargetSpec, Variant, load_registry

__all__ = ["Signature", "TargetCheck", "header_functions", "header_structs", "header_function_pointers",
           "header_minors", "contract_functions", "rust_exports", "rust_structs", "RustCrate", "read_rust_crate", "go_exports", "compare",
           "compare_structs", "exported_symbols", "library_abi", "check_library", "check_target",
           "check_targets", "check_all"]  # fmt: skip

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
#: A versioned section banner of the header: ``/* ===== *`` then `` * 1.1: TITLE``.
_BANNER = re.compile(r"=+\s*\*\s*\n\s*\*\s*(\d+)\.(\d+):")
#: Directories of a source tree that hold no library code (build outputs, tests, vendored code).
_SKIP_DIRS = frozenset({"target", "tests", "examples", "benches", "vendor", "testdata", "node_modules", "build"})


@dataclass(frozen=True)
class Signature:
    name: str
    returns: str
    params: tuple[tuple[str, str], ...]  # (name, normalized C type)

    def __str__(self) -> str:
        return f"{self.returns} {self.name}({', '.join(f'{t} {n}' for n, t in self.params)})"


# --------------------------------------------------------------------------- the header


def _blank_comments(text: str) -> str:
    """Comments replaced by spaces (newlines kept), so offsets stay those of the file."""
    return _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def _header_text(with_testing: bool) -> str:
    text = DECLS_HEADER.read_text()
    if with_testing:
        text += TESTING_DECLS_HEADER.read_text()
    return _COMMENT.sub("", text)


def _typedefs(text: str) -> dict[str, str]:
    return {alias: base for base, alias in re.findall(r"typedef\s+(\w+)\s+(\w+)\s*;", text)}


def _normalize_c(ctype: str, typedefs: dict[str, str]) -> str:
    ctype = " ".join(ctype.replace("*", " * ").split())
    words = [w for w in ctype.split() if w not in ("const", "struct")]
    pointer = words.count("*")
    base = " ".join(w for w in words if w != "*")
    while base in typedefs:
        base = typedefs[base]
    return base + " *" * pointer


def _c_params(params: str) -> list[tuple[str, str]]:
    """``T1 a, T2 *b`` -> [(a, "T1"), (b, "T2 *")], types as written (``void``: none)."""
    out = []
    for param in params.split(","):
        param = param.strip()
        if not param or param == "void":
            continue
        m = re.fullmatch(r"(.*?)(\w+)", param.replace("*", " * "))
        assert m, param
        out.append((m.group(2), m.group(1).strip()))
    return out


_FUNCTION = r"(\w+)\s+(fh_\w+)\s*\(([^)]*)\)\s*;"
_STRUCT = r"typedef\s+struct\s+\w+\s*\{(.*?)\}\s*(\w+)\s*;"


def header_functions(with_testing: bool = False) -> dict[str, Signature]:
    text = _header_text(with_testing)
    typedefs = _typedefs(text)
    out = {}
    for ret, name, params in re.findall(_FUNCTION, text):
        plist = tuple((pname, _normalize_c(ptype, typedefs)) for pname, ptype in _c_params(params))
        out[name] = Signature(name, _normalize_c(ret, typedefs), plist)
    return out


def header_minors() -> dict[str, int]:
    """Every contract function and struct of the header -> the minor version that added
    it: that of the nearest versioned section banner above it (``* 1.1: ...``), else 0.
    (The test-only declarations are of every version: they are not listed.)"""
    raw = DECLS_HEADER.read_text()
    text = _blank_comments(raw)
    banners = [(m.start(), int(m.group(1)), int(m.group(2))) for m in _BANNER.finditer(raw)]
    for _, major, minor in banners:
        if major != ABI_MAJOR:
            raise AssertionError(f"{DECLS_HEADER}: a section banner says {major}.{minor}, the header is {ABI_MAJOR}.x")

    def minor_at(offset: int) -> int:
        return max((minor for start, _, minor in banners if start < offset), default=0)

    out = {m.group(2): minor_at(m.start()) for m in re.finditer(_FUNCTION, text)}
    out.update({m.group(2): minor_at(m.start()) for m in re.finditer(_STRUCT, text, re.S)})
    return out


def contract_functions(minor: int | None = None) -> dict[str, Signature]:
    """The contract functions of ABI ``ABI_MAJOR.minor`` (None: the header's own version):
    every function added by that minor or an earlier one."""
    minors = header_minors()
    functions = header_functions(with_testing=False)
    return {name: sig for name, sig in functions.items() if minor is None or minors[name] <= minor}


def _function_pointer(returns: str, params: list[str]) -> str:
    """The canonical spelling of a function pointer type, shared by both languages:
    ``fn(int32_t, uint64_t *) -> int32_t``."""
    return f"fn({', '.join(params)}) -> {returns}"


def header_function_pointers(text: str | None = None) -> dict[str, str]:
    """``typedef R (*name)(params);`` of the header: name -> canonical function pointer type."""
    text = _header_text(False) if text is None else text
    typedefs = _typedefs(text)
    out = {}
    for ret, name, params in re.findall(r"typedef\s+(\w+)\s*\(\s*\*\s*(\w+)\s*\)\s*\(([^)]*)\)\s*;", text):
        ptypes = [out.get(ptype, _normalize_c(ptype, typedefs)) for _, ptype in _c_params(params)]
        out[name] = _function_pointer(_normalize_c(ret, typedefs), ptypes)
    return out


def header_structs() -> dict[str, list[tuple[str, str]]]:
    """Every ``typedef struct`` of the header: name -> [(field, normalized C type)]; a field
    of a function pointer type gets its canonical spelling (see :func:`_function_pointer`)."""
    text = _header_text(False)
    typedefs = _typedefs(text)
    pointers = header_function_pointers(text)
    out = {}
    for body, name in re.findall(_STRUCT, text, re.S):
        fields = re.findall(r"(\w+)\s+(\w+)\s*;", body)
        out[name] = [(fname, pointers.get(ftype) or _normalize_c(ftype, typedefs)) for ftype, fname in fields]
    return out


# --------------------------------------------------------------------------- source files


def _source_files(source: Path, suffix: str) -> list[Path]:
    """Files ending in ``suffix`` under ``source`` (or ``source`` itself if it is a file),
    outside build outputs, tests, examples, vendored and hidden directories."""
    if source.is_file():
        return [source]
    out = []
    for directory, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        out += [Path(directory) / f for f in sorted(files) if f.endswith(suffix)]
    return out


def _read_sources(paths: list[Path]) -> str:
    return "\n".join(p.read_text(errors="replace") for p in paths)


# --------------------------------------------------------------------------- Rust

_RUST_PRIMS = {"u8": "uint8_t", "u32": "uint32_t", "u64": "uint64_t", "i32": "int32_t", "usize": "size_t",
               "c_char": "char", "std::ffi::c_char": "char", "core::ffi::c_char": "char",
               "libc::c_char": "char", "std::os::raw::c_char": "char"}  # fmt: skip
_RUST_EXPORT = re.compile(
    r'(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?extern\s+"C(?:-unwind)?"\s+fn\s+(fh_\w+)\s*\((.*?)\)\s*(?:->\s*([\w:]+))?\s*\{',
    re.S,
)
_RUST_STRUCT = re.compile(r"#\[repr\(C\b[^\]]*\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?struct\s+(\w+)\s*\{(.*?)\}", re.S)
_RUST_ALIAS = re.compile(r"\btype\s+(\w+)\s*=\s*([\w:]+)\s*;")
RUST_SHIM = PROJECT_ROOT / "rust_shim"
GO_SHIM = PROJECT_ROOT / "go_shim"


def _struct_key(name: str) -> str:
    return name.replace("_", "").lower()


def _rust_type(rtype: str, aliases: dict[str, str]) -> str:
    rtype = " ".join(rtype.split())
    pointer = 0
    while m := re.fullmatch(r"\*\s*(?:mut|const)\s+(.*)", rtype):
        pointer += 1
        rtype = m.group(1).strip()
    rtype = rtype.removeprefix("crate::").split("::")[-1] if rtype not in _RUST_PRIMS else rtype
    for _ in range(16):  # an alias of an alias (a cycle ends here too)
        if rtype not in aliases:
            break
        rtype = aliases[rtype] if aliases[rtype] in _RUST_PRIMS else aliases[rtype].split("::")[-1]
    base = _RUST_PRIMS.get(rtype, rtype)
    return base + " *" * pointer


def _rust_text(source: Path | None, text: str | None) -> str:
    if text is None:
        text = _read_sources(_source_files(source if source is not None else RUST_SHIM / "src", ".rs"))
    return _blank_comments(text)


def rust_exports(source: Path | None = None, text: str | None = None) -> dict[str, Signature]:
    """The ``extern "C" fn fh_*`` definitions of a Rust source tree (a directory or one
    file; default: the bundled shim), or of ``text``, with types in C spelling (a struct
    keeps its Rust name)."""
    text = _rust_text(source, text)
    return _rust_exports_in(text, dict(_RUST_ALIAS.findall(text)))


def _rust_exports_in(text: str, aliases: dict[str, str]) -> dict[str, Signature]:
    out = {}
    for name, params, ret in _RUST_EXPORT.findall(text):
        plist = []
        for param in _split_top_level(params):
            pname, _, ptype = param.partition(":")
            plist.append((pname.strip().removeprefix("mut ").strip().lstrip("_"), _rust_type(ptype, aliases)))
        out[name] = Signature(name, _rust_type(ret or "()", aliases), tuple(plist))
    return out


def _split_top_level(text: str) -> list[str]:
    """Split at the commas that are not inside (), <> or []."""
    parts, depth, current = [], 0, []
    for i, ch in enumerate(text):
        if ch in "(<[":
            depth += 1
        elif ch in ")]" or (ch == ">" and text[i - 1 : i] != "-"):  # not the arrow of `-> R`
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _rust_field_type(rtype: str, aliases: dict[str, str]) -> str:
    """A field type: a plain type as :func:`_rust_type`, or a function pointer
    (``Option<unsafe extern "C" fn(name: T, ...) -> R>``) in canonical form."""
    rtype = " ".join(rtype.split())
    if m := re.fullmatch(r"Option\s*<(.*)>", rtype):
        rtype = m.group(1).strip()
    m = re.fullmatch(r'(?:unsafe\s+)?extern\s+"C(?:-unwind)?"\s+fn\s*\((.*)\)\s*(?:->\s*(.+))?', rtype)
    if m is None:
        return _rust_type(rtype, aliases)
    params = []
    for param in _split_top_level(m.group(1)):
        named = re.fullmatch(r"\w+\s*:(?!:)\s*(.+)", param, re.S)  # `name: T`, or a bare `T`
        params.append(named.group(1) if named else param)
    ret = (m.group(2) or "()").strip()
    return _function_pointer(
        "void" if ret == "()" else _rust_type(ret, aliases), [_rust_field_type(p, aliases) for p in params]
    )


def rust_structs(source: Path | None = None, text: str | None = None) -> dict[str, list[tuple[str, str]]]:
    """The ``#[repr(C)]`` structs of a Rust source tree (default: the bundled shim) or of
    ``text``: Rust name -> [(field, type in C spelling)]."""
    text = _rust_text(source, text)
    aliases = dict(_RUST_ALIAS.findall(text))
    out = {}
    for name, body in _RUST_STRUCT.findall(text):
        fields = []
        for item in _split_top_level(body):
            m = re.fullmatch(r"(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:\s*(.+)", item, re.S)
            if m:
                fields.append((m.group(1), _rust_field_type(m.group(2), aliases)))
        out[name] = fields
    return out


def _struct_names(exports: dict[str, Signature], structs: dict[str, list]) -> dict[str, str]:
    """Rust struct name -> the header struct it stands for: the one the header's
    prototype has where an export passes the Rust struct, else the header struct of the
    same name up to case and underscores (``FhConfig``)."""
    header = header_functions(with_testing=True)
    header_names = header_structs()
    names: dict[str, str] = {}
    for fname, sig in exports.items():
        want = header.get(fname)
        if want is None or len(want.params) != len(sig.params):
            continue
        for (_, ctype), (_, rtype) in zip(want.params, sig.params):
            cbase, rbase = ctype.split(" ")[0], rtype.split(" ")[0]
            if cbase in header_names and rbase in structs:
                names.setdefault(rbase, cbase)
    by_key = {_struct_key(name): name for name in header_names}
    for rname in structs:
        if rname not in names and _struct_key(rname) in by_key:
            names[rname] = by_key[_struct_key(rname)]
    return names


def _rename(ctype: str, names: dict[str, str]) -> str:
    if not names:
        return ctype
    return re.sub(r"\b(" + "|".join(map(re.escape, names)) + r")\b", lambda m: names[m.group(1)], ctype)


@dataclass(frozen=True)
class RustCrate:
    """What a Rust crate exports, in the header's names."""

    #: the crate's directory, then those of its path dependencies (read for structs and
    #: for the exports of the export macros the crate invokes)
    directories: tuple[Path, ...]
    exports: dict[str, Signature]
    #: the ``#[repr(C)]`` structs of the crate and its path dependencies, each under the
    #: name of the header struct it stands for (see :func:`_struct_names`)
    structs: dict[str, list[tuple[str, str]]]


def _path_dependencies(crate: Path, seen: set[Path]) -> list[Path]:
    """The directories of a crate's path dependencies (``[dependencies] x = { path = ".." }``,
    also per target), recursively, each once; a Cargo.toml that is missing or unreadable has none."""
    try:
        manifest = tomllib.loads((crate / "Cargo.toml").read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return []
    tables = [manifest.get("dependencies", {})]
    tables += [t.get("dependencies", {}) for t in manifest.get("target", {}).values() if isinstance(t, dict)]
    out = []
    for table in tables:
        for dep in table.values() if isinstance(table, dict) else ():
            if isinstance(dep, dict) and isinstance(dep.get("path"), str):
                directory = Path(os.path.normpath(crate / dep["path"]))
                if directory not in seen and directory.is_dir():
                    seen.add(directory)
                    out += [directory] + _path_dependencies(directory, seen)
    return out


def _macro_bodies(text: str) -> dict[str, str]:
    """``macro_rules! name { ... }`` of a (comment-blanked) text: name -> body."""
    out = {}
    for m in re.finditer(r"macro_rules!\s*(\w+)\s*\{", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out[m.group(1)] = text[m.end() : i - 1]
    return out


def read_rust_crate(source: Path) -> RustCrate:
    """A Rust crate's exports (its own ``extern "C" fn fh_*``, and those emitted by an
    export macro of a path dependency that the crate invokes, e.g. the adapter kit's
    ``export_contract!``) and ``#[repr(C)]`` structs (its own and its path
    dependencies'), with types in the header's C spelling and struct names."""
    source = Path(source)
    dependencies = _path_dependencies(source, {source}) if source.is_dir() else []
    own = _blank_comments(_read_sources(_source_files(source, ".rs")))
    theirs = _blank_comments(_read_sources([f for d in dependencies for f in _source_files(d, ".rs")]))
    aliases = dict(_RUST_ALIAS.findall(theirs + "\n" + own))
    exports: dict[str, Signature] = {}
    for name, body in _macro_bodies(theirs).items():
        if re.search(r"\b" + name + r"\s*!\s*[({\[]", own):  # the crate invokes it
            exports.update(_rust_exports_in(body, aliases))
    exports.update(_rust_exports_in(own, aliases))  # its own definitions
    structs = rust_structs(text=theirs + "\n" + own)  # its own win a clash of names
    names = _struct_names(exports, structs)
    exports = {
        fname: Signature(fname, _rename(sig.returns, names), tuple((p, _rename(t, names)) for p, t in sig.params))
        for fname, sig in exports.items()
    }
    renamed = {names.get(name, name): [(f, _rename(t, names)) for f, t in fields] for name, fields in structs.items()}
    return RustCrate((source, *dependencies), exports, renamed)


# --------------------------------------------------------------------------- Go


def _go_type(gtype: str, typedefs: dict[str, str]) -> str:
    gtype = gtype.strip()
    pointer = len(gtype) - len(gtype.lstrip("*"))
    base = gtype.lstrip("*").removeprefix("C.").removeprefix("struct_")
    return _normalize_c(base + " *" * pointer, typedefs)


_GO_EXPORT = re.compile(r"//export\s+(fh_\w+)\s*\nfunc\s+(\w+)\s*\(([^)]*)\)\s*(\([^)]*\)|[\w.*]*)\s*\{", re.S)


def _go_replacements(module_dir: Path) -> dict[str, Path]:
    """The ``replace MODULE => ./local/dir`` directives of a go.mod (local targets only)."""
    try:
        text = _COMMENT.sub("", (module_dir / "go.mod").read_text())
    except (OSError, UnicodeDecodeError):
        return {}
    lines = re.findall(r"^replace\s+([^(\n].*)$", text, re.M)
    for block in re.findall(r"^replace\s*\((.*?)\)", text, re.M | re.S):
        lines += block.splitlines()
    out = {}
    for line in lines:
        m = re.fullmatch(r"\s*(\S+)(?:\s+\S+)?\s*=>\s*(\S+)(?:\s+\S+)?\s*", line)
        if m and m.group(2).startswith(("./", "../", "/")):
            out[m.group(1)] = Path(os.path.normpath(module_dir / m.group(2)))
    return out


def _go_imports(text: str) -> set[str]:
    found = set(re.findall(r'^import\s+(?:[\w.]+\s+)?"([^"]+)"', text, re.M))
    for block in re.findall(r"^import\s*\((.*?)\)", text, re.M | re.S):
        found.update(re.findall(r'"([^"]+)"', block))
    return found


def _go_package_files(directory: Path, recursive: bool) -> list[Path]:
    files = _source_files(directory, ".go") if recursive else sorted(directory.glob("*.go"))
    return [f for f in files if not f.name.endswith("_test.go")]


def go_exports(go_dir: Path | None = None) -> dict[str, Signature]:
    """The cgo ``//export fh_*`` functions of a Go source tree (default: the bundled shim;
    ``_test.go`` files left out), and of the packages it imports from modules that its
    go.mod replaces by a local directory (e.g. the adapter kit's ``cabi``), with types
    in C spelling; its own definitions win."""
    go_dir = Path(go_dir or GO_SHIM)
    typedefs = _typedefs(_header_text(True))
    own = [f.read_text(errors="replace") for f in _go_package_files(go_dir, recursive=True)]
    replacements = _go_replacements(go_dir)
    texts, pending, seen = [], [imp for text in own for imp in _go_imports(text)], {go_dir}
    while pending:  # the imported packages of replaced modules, and theirs
        path = pending.pop()
        for module, directory in replacements.items():
            if path != module and not path.startswith(module + "/"):
                continue
            package = directory / path[len(module) :].lstrip("/")
            if package not in seen and package.is_dir():
                seen.add(package)
                for file in _go_package_files(package, recursive=False):
                    texts.append(file.read_text(errors="replace"))
                    pending += _go_imports(texts[-1])
    out = {}
    for text in texts + own:
        for export, _func, params, ret in _GO_EXPORT.findall(text):
            if ret.startswith("("):  # a named result: (status C.fh_status)
                ret = ret.strip("()").split()[-1]
            plist: list[tuple[str, str]] = []
            pending_names: list[str] = []
            for param in _split_top_level(params):
                parts = param.split()
                if len(parts) == 1:
                    pending_names.append(parts[0])
                    continue
                for pname in pending_names + [parts[0]]:
                    plist.append((pname, _go_type(parts[1], typedefs)))
                pending_names = []
            out[export] = Signature(export, _go_type(ret or "void", typedefs), tuple(plist))
    return out


# --------------------------------------------------------------------------- comparing


def _version(minor: int) -> str:
    return f"{ABI_MAJOR}.{minor}"


def compare(shim: str, exports: dict[str, Signature], with_testing: bool = True, minor: int | None = None) -> list[str]:
    """Problems between a shim's exports and the header's functions of ABI
    ``ABI_MAJOR.minor`` (None: the header's own): names, types, parameter names."""
    contract = contract_functions(minor)
    every = header_functions(with_testing=False)
    testing = header_functions(with_testing=True)
    minors = header_minors()
    problems = []
    for name, want in contract.items():
        if name not in exports:
            problems.append(f"{shim}: missing export {want}")
    for name, got in exports.items():
        want = testing.get(name)
        if want is None or (name not in every and not with_testing):
            problems.append(f"{shim}: exports {name}, which the header does not declare")
            continue
        if name in every and name not in contract:
            problems.append(f"{shim}: exports {name}, a {_version(minors[name])} function, but is ABI {_version(minor or 0)}")
            continue
        if got.returns != want.returns or [t for _, t in got.params] != [t for _, t in want.params]:
            problems.append(f"{shim}: {name} is\n    {got}\n  but the header says\n    {want}")
        elif [n for n, _ in got.params] != [n for n, _ in want.params]:
            problems.append(f"{shim}: {name} parameter names {[n for n, _ in got.params]} differ from the header's")
    return problems


def compare_structs(shim: str = "rust", structs: dict[str, list[tuple[str, str]]] | None = None,
                    minor: int | None = None) -> list[str]:  # fmt: skip
    """Problems between Rust ``#[repr(C)]`` structs (in the header's names; default: the
    bundled shim's) and the header's structs of ABI ``ABI_MAJOR.minor``."""
    if structs is None:
        structs = read_rust_crate(RUST_SHIM).structs
    minors = header_minors()
    problems = []
    for name, fields in header_structs().items():
        if minor is not None and minors[name] > minor:
            continue
        got = structs.get(name)
        if got is None:
            problems.append(f"{shim}: no #[repr(C)] struct for {name}")
        elif got != fields:
            problems.append(f"{shim}: struct {name} fields {got} differ from the header's {fields}")
    return problems


def _source_minor(exports: dict[str, Signature]) -> int:
    """The ABI minor a source tree implements, judged by its exports: the highest minor
    of any contract function it exports."""
    minors = header_minors()
    return max((minors[name] for name in exports if name in minors), default=0)


# --------------------------------------------------------------------------- built libraries


def exported_symbols(library: Path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}


class _ProbeFailed(Exception):
    """fh_abi_version could not be called (the message says why)."""


#: Run in a fresh interpreter: load one library (a coverage build after libFuzzer) and
#: print what its fh_abi_version reports.
_PROBE = """
import faulthandler, sys
faulthandler.enable()
from fuzzharness.contract.bindings import Library, libfuzzer_path, preload_global
if sys.argv[2] == "1":
    preload_global(libfuzzer_path())
print("abi %d %d" % Library(sys.argv[1]).abi_version())
"""


def _libasan() -> str:
    gcc = shutil.which("gcc")
    path = ""
    if gcc is not None:
        path = subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(path):
        raise _ProbeFailed("an ASan build needs gcc's libasan.so preloaded, and gcc has none")
    return os.path.realpath(path)


def library_abi(library: Path, variant: Variant | None = None, timeout: float = 60.0) -> tuple[int, int]:
    """The (major, minor) a built library's ``fh_abi_version`` reports, called in a
    separate Python process (never load a Go library into this one); an ASan build gets
    gcc's libasan preloaded, a coverage build atheris' libFuzzer. Raises _ProbeFailed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    if variant is not None and variant.sanitizer:
        env["LD_PRELOAD"] = " ".join(filter(None, [_libasan(), env.get("LD_PRELOAD")]))
        env["ASAN_OPTIONS"] = "detect_leaks=0:verify_asan_link_order=0"
    coverage = "1" if variant is not None and variant.coverage_of else "0"
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, str(library), coverage], env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise _ProbeFailed(f"fh_abi_version did not return within {timeout:g} s") from None
    m = re.search(r"^abi (\d+) (\d+)$", proc.stdout, re.M)
    if proc.returncode != 0 or m is None:
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:] or [f"exit status {proc.returncode}"]
        raise _ProbeFailed(f"fh_abi_version could not be called: {tail[0].strip()[:200]}")
    return int(m.group(1)), int(m.group(2))


def check_library(label: str, library: Path, variant: Variant) -> tuple[str, list[str]]:
    """One built library's exported ``fh_*`` symbols against the contract functions of
    the ABI version it reports (plus the test-only ones for a testing variant): a
    phrase saying how it was checked, and the problems."""
    symbols = exported_symbols(library)
    ours = {s for s in symbols if s.startswith("fh_")}
    minors = header_minors()
    testing = set(header_functions(with_testing=True)) - set(header_functions(with_testing=False))
    try:
        major, minor = library_abi(library, variant)
        how = f"reports ABI {major}.{minor}"
    except _ProbeFailed as exc:
        major, minor = ABI_MAJOR, max((minors[s] for s in ours if s in minors), default=0)
        how = f"ABI {_version(minor)} judged by its symbols ({exc})"
    if major != ABI_MAJOR:
        return how, [f"{label} {library}: reports ABI {major}.{minor}, the header is ABI {ABI_MAJOR}.x"]
    want = set(contract_functions(minor)) | (testing if variant.testing else set())
    newer = {s for s in ours - want if s not in minors and s not in testing} if minor > max(minors.values()) else set()
    extra, lacks = sorted(ours - want - newer), sorted(want - ours)
    problems = []
    if extra or lacks:
        problems.append(f"{label} {library}: {how}, but exports {extra} unexpectedly, lacks {lacks}")
    return f"{len(ours)} fh_* symbols, {how}", problems


# --------------------------------------------------------------------------- targets


@dataclass
class TargetCheck:
    """What :func:`check_target` did for one target."""

    target: str
    #: how it was checked, one phrase per check
    checked: list[str] = field(default_factory=list)
    #: what could not be checked, and why (never a failure)
    unchecked: list[str] = field(default_factory=list)
    #: drift: each one a failure
    problems: list[str] = field(default_factory=list)


def _check_sources(spec: TargetSpec, result: TargetCheck) -> None:
    if not spec.source.is_dir():
        result.unchecked.append(f"sources: {spec.source} is no directory")
        return
    found = False
    if _source_files(spec.source, ".rs"):
        crate = read_rust_crate(spec.source)
        if crate.exports:
            found = True
            minor = _source_minor(crate.exports)
            label = f"{spec.name} (Rust sources)"
            result.problems += compare(label, crate.exports, minor=minor) + compare_structs(label, crate.structs, minor)
            deps = f" and its path dependencies {', '.join(map(str, crate.directories[1:]))}" if crate.directories[1:] else ""
            result.checked.append(f"Rust sources under {spec.source}{deps}: {len(crate.exports)} exports, "
                                  f"{len(crate.structs)} #[repr(C)] structs, ABI {_version(minor)} by its exports")  # fmt: skip
    if _source_files(spec.source, ".go"):
        exports = go_exports(spec.source)
        if exports:
            found = True
            minor = _source_minor(exports)
            result.problems += compare(f"{spec.name} (Go sources)", exports, minor=minor)
            result.checked.append(f"Go sources under {spec.source}: {len(exports)} exports, ABI {_version(minor)} by its exports")
    if not found:
        result.unchecked.append(f'sources: none found under {spec.source} (no .rs file with extern "C" fn fh_*, '
                                f"no .go file with //export fh_*)")  # fmt: skip


def _check_built(spec: TargetSpec, result: TargetCheck) -> None:
    if shutil.which("nm") is None:
        result.unchecked.append("built libraries: nm is missing (install binutils)")
        return
    not_built = []
    for vname, variant in spec.variants.items():
        if not variant.library.is_file():
            not_built.append(vname)
            continue
        try:
            how, problems = check_library(f"{spec.name} ({vname})", variant.library, variant)
        except subprocess.CalledProcessError as exc:  # not a shared library nm can read
            reason = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit status {exc.returncode}"]
            result.unchecked.append(f"built {vname}: nm cannot read {variant.library}: {reason[0]}")
            continue
        result.checked.append(f"built {vname}: {how}")
        result.problems += problems
    if not_built:
        result.unchecked.append(f"not built: {', '.join(not_built)} ({spec.variants[not_built[0]].library} is missing)")


def check_target(spec: TargetSpec, built: bool = False) -> TargetCheck:
    """Check one target's sources (and with ``built``, its built libraries)."""
    result = TargetCheck(spec.name)
    if spec.members is not None:
        names = " and ".join(m.name for m in spec.members.values())
        result.checked.append(f"a pair of {names}: checked as its members")
        return result
    _check_sources(spec, result)
    if built:
        _check_built(spec, result)
    elif not result.checked:
        result.unchecked.append("built libraries: not asked (--built)")
    return result


def check_targets(built: bool = False, registry: dict[str, TargetSpec] | None = None) -> list[TargetCheck]:
    """Check every target of the registry (default: the bundled one plus the user's)."""
    registry = registry if registry is not None else load_registry()
    return [check_target(spec, built) for spec in registry.values()]


def check_all(built: bool = False) -> list[str]:
    """Every problem of every registered target (empty: no drift)."""
    return [problem for result in check_targets(built) for problem in result.problems]
