"""ABI drift check: every shim's exports against the contract header.

The header (``targets/include/fuzzharness_decls.h`` plus the testing companion)
is canonical. This check reads it, reads the Rust shim's export module
(``rust_shim/src/ffi.rs``) and the Go shim's cgo files, and fails when a
function is missing, extra, or has other parameter or return types, and when a
``#[repr(C)]`` Rust struct differs field by field from its C struct. With
``--built`` it also reads the exported symbols of the built libraries: release
builds must export exactly the contract functions, mutant builds the test ones too.

(The Go side has a second, independent guard: its cgo preamble includes the
header, so the C compiler rejects an export whose prototype differs.)
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fuzzharness.contract.header import DECLS_HEADER, PROJECT_ROOT, TESTING_DECLS_HEADER
from fuzzharness.contract.registry import load_registry

__all__ = ["Signature", "header_functions", "header_structs", "header_function_pointers", "rust_exports", "go_exports", "check_all", "compare"]

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


@dataclass(frozen=True)
class Signature:
    name: str
    returns: str
    params: tuple[tuple[str, str], ...]  # (name, normalized C type)

    def __str__(self) -> str:
        return f"{self.returns} {self.name}({', '.join(f'{t} {n}' for n, t in self.params)})"


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


def header_functions(with_testing: bool = False) -> dict[str, Signature]:
    text = _header_text(with_testing)
    typedefs = _typedefs(text)
    out = {}
    for ret, name, params in re.findall(r"(\w+)\s+(fh_\w+)\s*\(([^)]*)\)\s*;", text):
        plist = tuple((pname, _normalize_c(ptype, typedefs)) for pname, ptype in _c_params(params))
        out[name] = Signature(name, _normalize_c(ret, typedefs), plist)
    return out


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
    for body, name in re.findall(r"typedef\s+struct\s+\w+\s*\{(.*?)\}\s*(\w+)\s*;", text, re.S):
        fields = re.findall(r"(\w+)\s+(\w+)\s*;", body)
        out[name] = [(fname, pointers.get(ftype) or _normalize_c(ftype, typedefs)) for ftype, fname in fields]
    return out


# --------------------------------------------------------------------------- Rust

_RUST_PRIMS = {"u8": "uint8_t", "u32": "uint32_t", "u64": "uint64_t", "i32": "int32_t", "usize": "size_t",
               "c_char": "char", "std::ffi::c_char": "char", "core::ffi::c_char": "char",
               "libc::c_char": "char", "std::os::raw::c_char": "char"}  # fmt: skip


def _struct_key(name: str) -> str:
    return name.replace("_", "").lower()


def _rust_type(rtype: str, aliases: dict[str, str]) -> str:
    rtype = " ".join(rtype.split())
    pointer = 0
    while m := re.fullmatch(r"\*\s*(?:mut|const)\s+(.*)", rtype):
        pointer += 1
        rtype = m.group(1).strip()
    rtype = rtype.removeprefix("crate::").split("::")[-1] if rtype not in _RUST_PRIMS else rtype
    while rtype in aliases:
        rtype = aliases[rtype]
    base = _RUST_PRIMS.get(rtype, rtype)
    return base + " *" * pointer


def _rust_sources() -> str:
    return "\n".join(p.read_text() for p in sorted((PROJECT_ROOT / "rust_shim" / "src").rglob("*.rs")))


def rust_exports(ffi_file: Path | None = None) -> dict[str, Signature]:
    ffi_file = ffi_file or PROJECT_ROOT / "rust_shim" / "src" / "ffi.rs"
    text = ffi_file.read_text()
    aliases = dict(re.findall(r"\btype\s+(\w+)\s*=\s*([\w:]+)\s*;", _rust_sources() + text))
    out = {}
    pattern = r'pub\s+(?:unsafe\s+)?extern\s+"C"\s+fn\s+(fh_\w+)\s*\((.*?)\)\s*(?:->\s*([\w:]+))?\s*\{'
    for name, params, ret in re.findall(pattern, text, re.S):
        plist = []
        for param in _split_params(params):
            pname, _, ptype = param.partition(":")
            plist.append((pname.strip().lstrip("_"), _rust_type(ptype, aliases)))
        out[name] = Signature(name, _rust_type(ret or "()", aliases), tuple(plist))
    return out


def _split_params(params: str) -> list[str]:
    return [p.strip() for p in params.split(",") if p.strip()]


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
    m = re.fullmatch(r'(?:unsafe\s+)?extern\s+"C"\s+fn\s*\((.*)\)\s*(?:->\s*(.+))?', rtype)
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


def rust_structs() -> dict[str, list[tuple[str, str]]]:
    text = _COMMENT.sub("", _rust_sources())
    aliases = dict(re.findall(r"\btype\s+(\w+)\s*=\s*([\w:]+)\s*;", text))
    out = {}
    pattern = r"#\[repr\(C\)\]\s*(?:#\[[^\]]*\]\s*)*pub\s+struct\s+(\w+)\s*\{(.*?)\n\}"
    for name, body in re.findall(pattern, text, re.S):
        fields = []
        for field in _split_top_level(body):
            m = re.fullmatch(r"(?:#\[[^\]]*\]\s*)*pub\s+(\w+)\s*:\s*(.+)", field, re.S)
            if m:
                fields.append((m.group(1), _rust_field_type(m.group(2), aliases)))
        out[_struct_key(name)] = fields
    return out


# --------------------------------------------------------------------------- Go


def _go_type(gtype: str, typedefs: dict[str, str]) -> str:
    gtype = gtype.strip()
    pointer = len(gtype) - len(gtype.lstrip("*"))
    base = gtype.lstrip("*").removeprefix("C.")
    return _normalize_c(base + " *" * pointer, typedefs)


def go_exports(go_dir: Path | None = None) -> dict[str, Signature]:
    go_dir = go_dir or PROJECT_ROOT / "go_shim"
    typedefs = _typedefs(_header_text(True))
    out = {}
    for path in sorted(go_dir.glob("*.go")):
        text = path.read_text()
        pattern = r"//export\s+(fh_\w+)\s*\nfunc\s+(\w+)\s*\(([^)]*)\)\s*(\([^)]*\)|[\w.*]*)\s*\{"
        for export, _func, params, ret in re.findall(pattern, text, re.S):
            if ret.startswith("("):  # a named result: (status C.fh_status)
                ret = ret.strip("()").split()[-1]
            plist: list[tuple[str, str]] = []
            pending: list[str] = []
            for param in _split_params(params):
                parts = param.split()
                if len(parts) == 1:
                    pending.append(parts[0])
                    continue
                for pname in pending + [parts[0]]:
                    plist.append((pname, _go_type(parts[1], typedefs)))
                pending = []
            out[export] = Signature(export, _go_type(ret or "void", typedefs), tuple(plist))
    return out


# --------------------------------------------------------------------------- checks


def compare(shim: str, exports: dict[str, Signature], with_testing: bool = True) -> list[str]:
    """Problems between a shim's exports and the header (names, types, parameter names)."""
    contract = header_functions(with_testing=False)
    testing = header_functions(with_testing=True)
    problems = []
    for name, want in contract.items():
        if name not in exports:
            problems.append(f"{shim}: missing export {want}")
    for name, got in exports.items():
        want = testing.get(name)
        if want is None or (name not in contract and not with_testing):
            problems.append(f"{shim}: exports {name}, which the header does not declare")
            continue
        if got.returns != want.returns or [t for _, t in got.params] != [t for _, t in want.params]:
            problems.append(f"{shim}: {name} is\n    {got}\n  but the header says\n    {want}")
        elif [n for n, _ in got.params] != [n for n, _ in want.params]:
            problems.append(f"{shim}: {name} parameter names {[n for n, _ in got.params]} differ from the header's")
    return problems


def compare_structs() -> list[str]:
    rust = rust_structs()
    problems = []
    for name, fields in header_structs().items():
        got = rust.get(_struct_key(name))
        if got is None:
            problems.append(f"rust: no #[repr(C)] struct for {name}")
        elif got != fields:
            problems.append(f"rust: struct {name} fields {got} differ from the header's {fields}")
    return problems


def exported_symbols(library: Path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}


def check_built() -> list[str]:
    problems = []
    contract = set(header_functions(with_testing=False))
    testing = set(header_functions(with_testing=True)) - contract
    for spec in load_registry().values():
        if getattr(spec, "pair", None):
            continue  # a pair of libraries, each checked as its own target
        for vname, variant in spec.variants.items():
            if not variant.library.is_file():
                continue
            symbols = exported_symbols(variant.library)
            ours = {s for s in symbols if s.startswith("fh_")}
            want = contract | (testing if variant.testing else set())
            if ours != want:
                problems.append(
                    f"{spec.name} ({vname}) {variant.library}: exports {sorted(ours - want)} unexpectedly, "
                    f"lacks {sorted(want - ours)}"
                )
    return problems


def check_all(built: bool = False) -> list[str]:
    problems = compare("rust", rust_exports()) + compare("go", go_exports()) + compare_structs()
    if built:
        problems += check_built()
    return problems
