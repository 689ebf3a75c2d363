"""Generate the adapter kits' contract sources from the canonical header.

``targets/include/fuzzharness_decls.h`` is the one contract. The Rust adapter kit
(``kits/rust``, crate ``fuzzharness-adapter``) carries its constants and C types as a
COMMITTED generated file, ``kits/rust/src/contract.rs`` (and the mutant ids of the
testing header in ``kits/rust/src/testing.rs``), so that an adapter built out of tree
needs nothing but the kit's directory, and a reader sees the types in the source.
The drift check is ``tests/unit/test_kits.py``: it regenerates both files in memory
and fails when either differs from the committed one. After editing the header run::

    python -m fuzzharness.contract.kitgen          # rewrite the generated files
    python -m fuzzharness.contract.kitgen --check  # exit 1 and name the stale files

What is generated, from the header alone:

* every ``FH_NAME = N`` of an ``enum`` becomes ``pub const FH_NAME: T = N;`` with ``T``
  ``i32`` for ``enum fh_status_code`` (an ``fh_status`` is an ``int32_t``) and ``u32``
  otherwise (strategies, ABI numbers, flags' enum and mutants travel as ``uint32_t``);
* every scalar ``typedef`` becomes a ``pub type`` alias, every function-pointer
  ``typedef`` an ``Option<unsafe extern "C" fn(..)>`` alias (NULL is ``None``);
* every ``typedef struct`` becomes a ``#[repr(C)]`` struct, field by field (same names,
  order and types; function-pointer fields spelled out in full, as the ABI drift check
  of :mod:`fuzzharness.contract.abi_check` reads them), with ``const`` assertions of
  the size and alignment a C compiler gives the struct on a 64-bit target, computed
  here from the C types (so a wrong type mapping fails to compile);
* the comments beside each entry and field, and before each enum and struct, become
  doc comments (one paragraph each).

The header is parsed by :func:`parse_header` into plain data (:class:`Header`), which
does not depend on Rust: a generator for another language renders the same value.
A construct the parser does not know raises :class:`~fuzzharness.errors.CorruptInput`
naming the header and the construct, never a silently incomplete file.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from fuzzharness.contract.header import DECLS_HEADER, PROJECT_ROOT, TESTING_DECLS_HEADER
from fuzzharness.errors import CorruptInput

__all__ = [
    "Header",
    "Enum",
    "Struct",
    "Entry",
    "FunctionPointer",
    "parse_header",
    "rust_contract",
    "rust_testing",
    "RUST_KIT",
    "generated_files",
    "stale_files",
    "main",
]

#: The Rust adapter kit (crate ``fuzzharness-adapter``).
RUST_KIT = PROJECT_ROOT / "kits" / "rust"

# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Entry:
    """One ``NAME = value`` of an enum, or one field of a struct (``value`` = its C type)."""

    name: str
    value: str
    doc: str


@dataclass(frozen=True)
class Enum:
    name: str
    doc: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Struct:
    name: str
    doc: str
    fields: tuple[Entry, ...]  # value: the field's C type as written (a typedef name or a scalar)


@dataclass(frozen=True)
class FunctionPointer:
    name: str
    returns: str
    params: tuple[tuple[str, str], ...]  # (name, C type)


@dataclass(frozen=True)
class Header:
    """What a generator needs of a header, in declaration order."""

    name: str  # the file name, for messages and the generated files' banner
    scalars: dict[str, str] = field(default_factory=dict)  # typedef name -> C base type
    enums: tuple[Enum, ...] = ()
    function_pointers: dict[str, FunctionPointer] = field(default_factory=dict)
    structs: tuple[Struct, ...] = ()


_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_SCALAR_TYPEDEF = re.compile(r"typedef\s+(\w+)\s+(\w+)\s*;")
_POINTER_TYPEDEF = re.compile(r"typedef\s+(\w+)\s*\(\s*\*\s*(\w+)\s*\)\s*\(([^)]*)\)\s*;")
_ENUM = re.compile(r"\benum\s+(\w+)\s*\{(.*?)\}\s*;", re.S)
_STRUCT = re.compile(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", re.S)
_ENUM_ENTRY = re.compile(r"(\w+)\s*=\s*(\w+)(?:\s*,)?")
_FIELD = re.compile(r"(\w+)\s+(\w+)\s*;")


def _comment_text(raw: str) -> str:
    """A C comment's words as one paragraph (``/* a\\n * b */`` -> ``a b``)."""
    body = raw[2:-2] if raw.startswith("/*") else raw[2:]
    lines = [re.sub(r"^\s*\*(?!/)", "", line) for line in body.splitlines()]
    return " ".join(" ".join(lines).split())


class _Source:
    """The header's text with every comment blanked (offsets kept), and the comments."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.comments = [(m.start(), m.end(), m.group()) for m in _COMMENT.finditer(text)]
        code = list(text)
        for start, end, _ in self.comments:
            for i in range(start, end):
                if code[i] != "\n":
                    code[i] = " "
        self.code = "".join(code)

    def comment_after(self, position: int, limit: int) -> str:
        """The first comment starting in ``position..limit``, if only blanks and at most
        one comma lie before it (the comment beside an entry or field)."""
        for start, _end, raw in self.comments:
            if position <= start < limit and not self.code[position:start].replace(",", "", 1).strip():
                return _comment_text(raw)
        return ""

    def comment_before(self, position: int) -> str:
        """The comment that ends right before ``position`` (only blanks between) and
        starts a line, unless it is a section banner (a line of ``=``)."""
        for start, end, raw in reversed(self.comments):
            if end <= position:
                line_start = self.text.rfind("\n", 0, start) + 1
                if self.text[end:position].strip() or self.text[line_start:start].strip() or "=====" in raw:
                    return ""
                return _comment_text(raw)
        return ""


def parse_header(text: str, name: str) -> Header:
    """The enums, scalar and function-pointer typedefs and structs of a cffi-readable header."""
    src = _Source(text)
    scalars = {alias: base for base, alias in _SCALAR_TYPEDEF.findall(src.code)}
    pointers = {}
    for returns, pname, params in _POINTER_TYPEDEF.findall(src.code):
        pointers[pname] = FunctionPointer(pname, returns, _params(params, f"{name}: typedef {pname}"))
    enums = []
    for m in _ENUM.finditer(src.code):
        entries = []
        body_start = m.start(2)
        matches = list(_ENUM_ENTRY.finditer(m.group(2)))
        rest = _ENUM_ENTRY.sub("", m.group(2)).strip()
        if rest:
            raise CorruptInput(f"{name}: enum {m.group(1)}: cannot read {rest[:40]!r} (want NAME = number, ...)")
        for i, e in enumerate(matches):
            limit = body_start + (matches[i + 1].start() if i + 1 < len(matches) else len(m.group(2)))
            if not e.group(2).isdigit():
                raise CorruptInput(f"{name}: enum {m.group(1)}: {e.group(1)} = {e.group(2)!r} is not a decimal number")
            entries.append(Entry(e.group(1), e.group(2), src.comment_after(body_start + e.end(), limit)))
        enums.append(Enum(m.group(1), src.comment_before(m.start()), tuple(entries)))
    structs = []
    for m in _STRUCT.finditer(src.code):
        tag, body, alias = m.group(1), m.group(2), m.group(3)
        if tag != alias:
            raise CorruptInput(f"{name}: typedef struct {tag} {{...}} {alias}: the tag and the name must be equal")
        fields = []
        body_start = m.start(2)
        matches = list(_FIELD.finditer(body))
        rest = _FIELD.sub("", body).strip()
        if rest:
            raise CorruptInput(f"{name}: struct {tag}: cannot read {rest[:40]!r} (want `type name;` fields)")
        for i, f in enumerate(matches):
            limit = body_start + (matches[i + 1].start() if i + 1 < len(matches) else len(body))
            fields.append(Entry(f.group(2), f.group(1), src.comment_after(body_start + f.end(), limit)))
        structs.append(Struct(tag, src.comment_before(m.start()), tuple(fields)))
    if not enums:
        raise CorruptInput(f"{name}: no enum found")
    return Header(name, scalars, tuple(enums), pointers, tuple(structs))


def _params(params: str, where: str) -> tuple[tuple[str, str], ...]:
    """``T a, U *b`` -> ((a, T), (b, U *)); ``void`` or nothing -> ()."""
    out = []
    for param in params.split(","):
        param = " ".join(param.replace("*", " * ").split())
        if not param or param == "void":
            continue
        m = re.fullmatch(r"(\w+(?: \*)*) (\w+)", param)
        if m is None:
            raise CorruptInput(f"{where}: cannot read the parameter {param!r} (want `type name`)")
        out.append((m.group(2), m.group(1)))
    return tuple(out)


# --------------------------------------------------------------------------- Rust

_RUST_SCALARS = {"uint8_t": "u8", "uint32_t": "u32", "uint64_t": "u64", "int32_t": "i32",
                 "size_t": "usize", "char": "c_char", "void": "()"}  # fmt: skip
#: (size, alignment) of each C scalar on an LP64 target; every pointer is 8, 8
_C_LAYOUT = {"uint8_t": (1, 1), "uint32_t": (4, 4), "uint64_t": (8, 8), "int32_t": (4, 4),
             "size_t": (8, 8), "char": (1, 1)}  # fmt: skip


def _wrap(text: str, prefix: str) -> str:
    """``text`` as lines of at most ~96 characters, each starting with ``prefix``."""
    lines, line = [], ""
    for word in text.split():
        if line and len(prefix) + len(line) + 1 + len(word) > 96:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "".join(f"{prefix}{x}\n".replace(" \n", "\n") for x in lines)


def _doc(text: str, fallback: str, indent: str = "") -> str:
    """``text`` as one ``///`` paragraph, with what markdown would read as links or HTML
    escaped; ``fallback`` when the header says nothing."""
    return _wrap(re.sub(r"([\[\]<])", r"\\\1", text or fallback), indent + "/// ")


class _Rust:
    def __init__(self, header: Header) -> None:
        self.h = header

    def resolve(self, ctype: str) -> str:
        """A C base type through scalar typedefs (``fh_handle`` -> ``uint64_t``)."""
        seen = set()
        while ctype in self.h.scalars:
            if ctype in seen:
                raise CorruptInput(f"{self.h.name}: typedef cycle through {ctype}")
            seen.add(ctype)
            ctype = self.h.scalars[ctype]
        return ctype

    def type(self, ctype: str, where: str) -> str:
        """The Rust spelling of a C type of a field or parameter."""
        ctype = " ".join(ctype.replace("*", " * ").split())
        pointer = ctype.count("*")
        base = self.resolve(ctype.replace("*", "").strip())
        if base in self.h.function_pointers:
            if pointer:
                raise CorruptInput(f"{self.h.name}: {where}: a pointer to a function pointer is not supported")
            return self.function_pointer(self.h.function_pointers[base], where)
        if base in _RUST_SCALARS:
            rust = _RUST_SCALARS[base]
        elif any(s.name == base for s in self.h.structs):
            rust = base
        else:
            raise CorruptInput(f"{self.h.name}: {where}: unknown C type {base!r}")
        if pointer and rust == "()":
            rust = "c_void"
        return "*mut " * pointer + rust

    def function_pointer(self, fp: FunctionPointer, where: str) -> str:
        params = ", ".join(f"{pname}: {self.type(ptype, where)}" for pname, ptype in fp.params)
        returns = self.type(fp.returns, where)
        arrow = "" if returns == "()" else f" -> {returns}"
        return f'Option<unsafe extern "C" fn({params}){arrow}>'

    def layout(self, ctype: str) -> tuple[int, int]:
        if "*" in ctype or self.resolve(ctype) in self.h.function_pointers:
            return 8, 8
        base = self.resolve(ctype)
        if base in _C_LAYOUT:
            return _C_LAYOUT[base]
        struct = next(s for s in self.h.structs if s.name == base)
        return self.struct_layout(struct)

    def struct_layout(self, struct: Struct) -> tuple[int, int]:
        """(size, alignment) as a C compiler lays ``struct`` out on an LP64 target."""
        offset, align = 0, 1
        for f in struct.fields:
            size, falign = self.layout(f.value)
            offset = -(-offset // falign) * falign + size
            align = max(align, falign)
        return -(-offset // align) * align, align


def _banner(header: Header, what: str) -> str:
    return (
        f"// @generated by `python -m fuzzharness.contract.kitgen` from targets/include/{header.name}.\n"
        "// Do not edit: change the header, then regenerate (tests/unit/test_kits.py fails until then).\n"
        "\n"
        f"{what}"
    )


def _rust_enums(header: Header) -> list[str]:
    out = []
    for enum in header.enums:
        rust_type = "i32" if enum.name == "fh_status_code" else "u32"
        out.append(f"\n// enum {enum.name}\n")
        if enum.doc:
            out.append("//\n" + _wrap(enum.doc, "// "))
        for entry in enum.entries:
            out.append(_doc(entry.doc, f"`{entry.name}` of `enum {enum.name}`."))
            out.append(f"pub const {entry.name}: {rust_type} = {entry.value};\n")
    return out


def rust_contract(header: Header) -> str:
    """``kits/rust/src/contract.rs``: every constant, typedef and struct of the header."""
    rust = _Rust(header)
    out = [_banner(header, (
        "//! The contract's constants and C types, generated from `fuzzharness_decls.h`.\n"
        "//!\n"
        "//! Same names, numbers, field names, field order and types as the header, which\n"
        "//! is canonical: status numbers and strategies are never retyped by hand. Data\n"
        "//! only. The layout assertions at the end hold the C compiler's sizes and\n"
        "//! alignments on a 64-bit target, computed by the generator from the C types.\n"
        "\n"
        "#![allow(non_camel_case_types)]\n"
    ))]  # fmt: skip
    out.append("\n// typedefs\n")
    for alias, base in header.scalars.items():
        out.append(_doc("", f"`typedef {base} {alias}`."))
        out.append(f"pub type {alias} = {rust.type(base, f'typedef {alias}')};\n")
    out += _rust_enums(header)
    if header.function_pointers:
        out.append("\n// function pointer typedefs (NULL is None)\n")
    for fp in header.function_pointers.values():
        params = ", ".join(f"{ptype} {pname}".replace("* ", "*") for pname, ptype in fp.params) or "void"
        out.append(_doc("", f"`typedef {fp.returns} (*{fp.name})({params})`."))
        out.append(f"pub type {fp.name} = {rust.function_pointer(fp, f'typedef {fp.name}')};\n")
    asserts = []
    for struct in header.structs:
        types = [rust.type(f.value, f"struct {struct.name}: {f.name}") for f in struct.fields]
        # function pointers have no reliable equality (clippy: unpredictable comparisons)
        has_pointers = any(t.startswith("Option<") for t in types)
        derives = "Debug, Default, Clone, Copy" + ("" if has_pointers else ", PartialEq, Eq")
        out.append("\n" + _doc(struct.doc, f"`struct {struct.name}` of the header."))
        out.append(f"#[repr(C)]\n#[derive({derives})]\npub struct {struct.name} {{\n")
        for f, rust_type in zip(struct.fields, types):
            out.append(_doc(f.doc, f"`{f.name}` of `struct {struct.name}`.", "    "))
            out.append(f"    pub {f.name}: {rust_type},\n")
        out.append("}\n")
        size, align = rust.struct_layout(struct)
        asserts.append(
            f"const _: () = assert!(size_of::<{struct.name}>() == {size} && align_of::<{struct.name}>() == {align});\n"
        )
    if asserts:
        out.append("\n// C layout on a 64-bit target (size, alignment), from the header's C types.\n")
        out.append('#[cfg(target_pointer_width = "64")]\nconst _: () = {\n    use std::mem::{align_of, size_of};\n')
        out += ["    " + a for a in asserts]
        out.append("};\n")
    body = "".join(out[1:])
    imports = [name for name in ("c_char", "c_void") if re.search(rf"\b{name}\b", body)]
    if imports:
        used = imports[0] if len(imports) == 1 else "{" + ", ".join(imports) + "}"
        out.insert(1, f"\nuse std::ffi::{used};\n")
    return "".join(out)


def rust_testing(header: Header) -> str:
    """``kits/rust/src/testing.rs``: the constants of the testing header (mutant ids)."""
    out = [_banner(header, (
        "//! The test-only constants of `fuzzharness_testing_decls.h` (mutant ids), generated.\n"
        "//!\n"
        "//! For the bundled shims' `mutants` builds; an adapter has no use for them.\n"
    ))]  # fmt: skip
    out += _rust_enums(header)
    return "".join(out)


# --------------------------------------------------------------------------- files


def generated_files(decls: Path = DECLS_HEADER, testing: Path = TESTING_DECLS_HEADER,
                    kit: Path = RUST_KIT) -> dict[Path, str]:  # fmt: skip
    """Every generated file of the kits -> its content, from the headers as they are now."""
    try:
        decls_text, testing_text = decls.read_text(), testing.read_text()
    except OSError as exc:
        raise CorruptInput(f"cannot read a contract header: {exc}") from None
    return {
        kit / "src" / "contract.rs": rust_contract(parse_header(decls_text, decls.name)),
        kit / "src" / "testing.rs": rust_testing(parse_header(testing_text, testing.name)),
    }


def stale_files(files: dict[Path, str] | None = None) -> list[Path]:
    """The generated files whose content on disk differs from a fresh generation."""
    files = generated_files() if files is None else files
    stale = []
    for path, content in files.items():
        try:
            current = path.read_text()
        except FileNotFoundError:
            current = None
        if current != content:
            stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fuzzharness.contract.kitgen",
        description="Regenerate the adapter kits' contract sources from targets/include/*.h.",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale file")
    args = parser.parse_args(argv)
    files = generated_files()
    stale = stale_files(files)
    for path in stale:
        shown = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
        if args.check:
            print(f"{shown}: differs from the header; run python -m fuzzharness.contract.kitgen", file=sys.stderr)
        else:
            path.write_text(files[path])
            print(f"wrote {shown}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
