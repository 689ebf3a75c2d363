"""The Rust shim's modules form layers, and only its boundary has ``unsafe`` code.

``LAYERS`` below is the one declaration of the order of ``rust_shim/src``'s
modules, bottom to top (``rust_shim/src/lib.rs`` documents the same list).
Every crate path in a module's code (``use crate::NAME``, ``crate::NAME::...``,
``use crate::{NAME, ...}``, ``$crate::NAME``) must name a module of a lower
layer, or of its own layer as long as the modules of that layer do not use
each other in a cycle. Comments (doc links included) and string literals are
not code and are not read. ``#[cfg(test)] mod tests`` blocks are read like
the rest: tests follow the same order. Relative paths (``self::``,
``super::``) stay inside a module's own files and are not followed; a
``super::super`` path, which could leave them, is refused instead.

A file of the crate whose module is missing from ``LAYERS`` fails the test,
so a new module has to be given its place.

``unsafe`` may appear in ``ffi.rs`` only. Elsewhere the one use of the keyword
allowed is a C function-pointer type (``Option<unsafe extern "C" fn(..)>``, as in
the kit's ``fh_backend``): declaring one is not unsafe code, only calling
through it is. Lint names such as ``unsafe_code`` are not the keyword. (Paths of
the adapter kit, ``fuzzharness_adapter::...``, are another crate's and not read.)

Plain Python reading the sources: no cargo, no import of ``fuzzharness``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RUST_SRC = Path(__file__).resolve().parents[2] / "rust_shim" / "src"
SHOWN = "rust_shim/src/"  # in front of the paths in messages

# Bottom to top. One tuple is one layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    # (below every layer: the adapter kit, crate fuzzharness_adapter in kits/rust: the header's
    # constants and C types, the error type, buffers, counters, panic boundary, last error)
    ("clock", "sync"),  # CLOCK_MONOTONIC, lock helpers
    ("mutants",),  # test-only mutant injection (cargo feature `mutants`)
    ("last_error",),  # the last-error message (the kit's, redirected by a mutant)
    ("events", "guard", "table", "resource"),
    ("reclaim",),
    ("session",),
    ("api",),  # one safe function per export
    ("ffi",),  # the extern "C" exports: the only unsafe code
)
UNSAFE_FILES = frozenset({"ffi.rs"})  # paths under rust_shim/src

_CRATE_PATH = re.compile(r"\bcrate\s*::\s*(\{|\w+)")
_SUPER_SUPER = re.compile(r"\bsuper\s*::\s*super\b")
_UNSAFE = re.compile(r"\bunsafe\b")
# What may follow `unsafe` outside the unsafe modules: an anonymous fn type.
_FN_POINTER_TYPE = re.compile(r'\s*(?:extern\s*(?:"[^"]*"\s*)?)?fn\s*\(')
_MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
_RAW_STRING_START = re.compile(r'b?r(#*)"')


def layer_of() -> dict[str, int]:
    """Module -> its layer, numbered from 1 at the bottom (as in lib.rs)."""
    return {module: i for i, layer in enumerate(LAYERS, start=1) for module in layer}


def code_only(text: str) -> str:
    """``text`` with comments and the contents of string and char literals blanked
    (newlines kept, so line numbers stay right)."""
    out = list(text)
    n, i = len(text), 0

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif (m := _RAW_STRING_START.match(text, i)) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            close = '"' + m.group(1)
            end = text.find(close, m.end())
            end = n if end < 0 else end
            blank(m.end(), end)
            i = end + len(close)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}'), or a lifetime ('a), left alone.
            if text.startswith("\\", i + 1):
                end = text.find("'", i + 3)
                end = n if end < 0 else end
                blank(i + 1, end)
                i = end + 1
            elif i + 2 < n and text[i + 2] == "'":
                blank(i + 1, i + 2)
                i += 3
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def module_of(relpath: str) -> str | None:
    """``session/mutant.rs`` -> ``session``; ``lib.rs`` (the crate root) -> None."""
    first = relpath.split("/")[0]
    if first == "lib.rs":
        return None
    return first.removesuffix(".rs")


def _group_names(code: str, open_brace: int) -> list[str]:
    """The first path segment of every item of the `{...}` group opening at `open_brace`."""
    depth, j = 0, open_brace
    while j < len(code):
        depth += {"{": 1, "}": -1}.get(code[j], 0)
        if depth == 0:
            break
        j += 1
    items, depth, current = [], 0, []
    for ch in code[open_brace + 1 : j]:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    names = []
    for item in items:
        if m := re.match(r"\s*(\w+)", item):
            names.append(m.group(1))
    return names


def crate_references(text: str) -> list[tuple[int, str, str]]:
    """Every crate path of a file's code: (line, module named, the line's text)."""
    code = code_only(text)
    lines = text.splitlines()
    refs = []
    for m in _CRATE_PATH.finditer(code):
        line = code.count("\n", 0, m.start()) + 1
        names = _group_names(code, m.start(1)) if m.group(1) == "{" else [m.group(1)]
        for name in names:
            if name != "self":
                refs.append((line, name, lines[line - 1].strip()))
    return refs


def layer_violations(sources: dict[str, str]) -> list[str]:
    """Problems of ``sources`` (path under src/ -> text) against ``LAYERS``: upward
    references, names that are not declared modules, cycles within a layer."""
    layers = layer_of()
    problems = []
    edges: dict[str, dict[str, str]] = {}  # module -> used module of the same layer -> where
    for path, text in sorted(sources.items()):
        own = module_of(path)
        code = code_only(text)
        for m in _SUPER_SUPER.finditer(code):
            line = code.count("\n", 0, m.start()) + 1
            problems.append(f"{SHOWN}{path}:{line}: `super::super` may leave the module; write `crate::NAME::...`")
        if own is None:
            continue
        for line, name, snippet in crate_references(text):
            where = f"{SHOWN}{path}:{line}: `{snippet}`"
            if name == own:
                continue
            if name not in layers:
                problems.append(f"{where} names `crate::{name}`, which is no module declared in LAYERS")
            elif layers[name] > layers[own]:
                problems.append(
                    f"{where}: `{own}` (layer {layers[own]}) uses `{name}` (layer {layers[name]}), "
                    f"a higher layer; move what both need below `{own}` or pass it down as a value"
                )
            elif layers[name] == layers[own]:
                edges.setdefault(own, {}).setdefault(name, where)
    problems += [_describe_cycle(cycle, edges) for cycle in _cycles(edges)]
    return problems


def _cycles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """One cycle per strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    cycles = []
    for group in groups:
        # Walk edges inside the group from its first module until a module repeats.
        members, path = set(group), [min(group)]
        while True:
            nxt = min(w for w in edges[path[-1]] if w in members)
            if nxt in path:
                cycles.append(path[path.index(nxt) :] + [nxt])
                break
            path.append(nxt)
    return cycles


def _describe_cycle(cycle: list[str], edges: dict[str, dict[str, str]]) -> str:
    steps = "; ".join(edges[a][b] for a, b in zip(cycle, cycle[1:]))
    return f"cycle {' -> '.join(cycle)} within one layer: {steps}"


def unsafe_outside_the_boundary(sources: dict[str, str]) -> list[str]:
    problems = []
    for path, text in sorted(sources.items()):
        if path in UNSAFE_FILES:
            continue
        code = code_only(text)
        lines = text.splitlines()
        for m in _UNSAFE.finditer(code):
            if _FN_POINTER_TYPE.match(code, m.end()):
                continue
            line = code.count("\n", 0, m.start()) + 1
            problems.append(f"{SHOWN}{path}:{line}: `{lines[line - 1].strip()}`: unsafe code outside ffi.rs")
    return problems


def declaration_problems(sources: dict[str, str]) -> list[str]:
    """``LAYERS`` against the module files of ``sources`` and the modules lib.rs declares."""
    declared = [m for layer in LAYERS for m in layer]
    problems = []
    if len(declared) != len(set(declared)):
        problems.append(f"a module is declared twice in LAYERS: {sorted(declared)}")
    files = {module_of(path) for path in sources} - {None}
    if missing := sorted(files - set(declared)):
        problems.append(f"{SHOWN} has modules that LAYERS does not place: {missing}; add each to its layer")
    if gone := sorted(set(declared) - files):
        problems.append(f"LAYERS declares modules without a file in {SHOWN}: {gone}")
    in_lib = set(_MOD_DECL.findall(code_only(sources.get("lib.rs", ""))))
    if in_lib != set(declared):
        problems.append(
            f"{SHOWN}lib.rs declares other modules than LAYERS: only in lib.rs {sorted(in_lib - set(declared))}, "
            f"only in LAYERS {sorted(set(declared) - in_lib)}"
        )
    return problems


def read_sources() -> dict[str, str]:
    return {p.relative_to(RUST_SRC).as_posix(): p.read_text() for p in sorted(RUST_SRC.rglob("*.rs"))}


# ----------------------------------------------------------------------------- the shim


def test_every_module_of_the_crate_has_a_layer():
    problems = declaration_problems(read_sources())
    assert not problems, "\n".join(problems)


def test_every_crate_path_points_down_the_layers():
    problems = layer_violations(read_sources())
    assert not problems, "rust_shim/src breaks its layer order:\n" + "\n".join(problems)


def test_unsafe_code_is_in_ffi_rs_only():
    problems = unsafe_outside_the_boundary(read_sources())
    assert not problems, "\n".join(problems)


def test_the_real_sources_are_read():
    """Guards the parser against passing by reading nothing."""
    sources = read_sources()

    def names(path: str) -> set[str]:
        return {name for _, name, _ in crate_references(sources[path])}

    assert {"api", "clock", "last_error", "table"} <= names("ffi.rs")
    assert {"reclaim", "resource", "table"} <= names("session/mutant.rs")
    assert _UNSAFE.search(code_only(sources["ffi.rs"]))


# ----------------------------------------------------------------------------- the checker itself


def test_an_upward_reference_is_named_with_file_line_and_layers():
    problems = layer_violations({"table.rs": "use crate::sync::lock;\nfn f() { crate::session::go(); }\n"})
    assert len(problems) == 1
    assert problems[0].startswith("rust_shim/src/table.rs:2: `fn f() { crate::session::go(); }`")
    assert "`table` (layer 4) uses `session` (layer 6), a higher layer" in problems[0]


def test_grouped_imports_and_macro_paths_are_read():
    refs = crate_references(
        "use crate::{error::{Error, Result}, api};\nmacro_rules! m { () => { $crate::ffi::x() } }\n"
    )
    assert [(line, name) for line, name, _ in refs] == [(1, "error"), (1, "api"), (2, "ffi")]


def test_comments_and_strings_are_not_code():
    text = (
        "//! see [`crate::ffi`]\n"
        "/* crate::api /* nested */ crate::api */\n"
        'const S: &str = "crate::api unsafe { }";\n'
        'const R: &str = r#"crate::api"#;\n'
        "const C: char = '\"'; fn f<'a>(x: &'a u8) {}\n"
        "use crate::error::Error;\n"
    )
    assert [(line, name) for line, name, _ in crate_references(text)] == [(6, "error")]
    assert unsafe_outside_the_boundary({"table.rs": text}) == []


def test_a_cycle_within_a_layer_is_reported_with_its_references():
    problems = layer_violations(
        {
            "table.rs": "use crate::resource::Resource;\n",
            "resource.rs": "use crate::table::Table;\n",
            "guard.rs": "use crate::table::Table;\n",  # a plain same-layer use
        }
    )
    assert problems == [
        "cycle resource -> table -> resource within one layer: "
        "rust_shim/src/resource.rs:1: `use crate::table::Table;`; "
        "rust_shim/src/table.rs:1: `use crate::resource::Resource;`"
    ]


def test_unknown_modules_and_super_super_are_refused():
    problems = layer_violations({"session/mutant.rs": "use super::super::api;\nuse crate::nowhere::X;\n"})
    assert len(problems) == 2
    assert problems[0].startswith("rust_shim/src/session/mutant.rs:1: `super::super`")
    assert "no module declared in LAYERS" in problems[1]


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ('pub f: Option<unsafe extern "C" fn(x: u8) -> i32>,', True),
        ("type F = unsafe fn();", True),
        ("#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]", True),
        ("// unsafe { here } is a comment", True),
        ("let x = unsafe { *p };", False),
        ("unsafe impl Send for X {}", False),
        ('pub unsafe extern "C" fn fh_x() {}', False),
        ("unsafe fn f() {}", False),
    ],
)
def test_unsafe_is_code_unless_it_types_a_function_pointer(text, allowed):
    assert (unsafe_outside_the_boundary({"table.rs": text}) == []) is allowed
    assert unsafe_outside_the_boundary({"ffi.rs": text}) == []


def test_a_module_missing_from_layers_fails():
    sources = read_sources()
    sources["extra.rs"] = ""
    sources["lib.rs"] += "pub mod extra;\n"
    problems = declaration_problems(sources)
    assert len(problems) == 2
    assert "modules that LAYERS does not place: ['extra']" in problems[0]
    assert "only in lib.rs ['extra']" in problems[1]
    del sources["clock.rs"]
    assert any("without a file in rust_shim/src/: ['clock']" in p for p in declaration_problems(sources))
