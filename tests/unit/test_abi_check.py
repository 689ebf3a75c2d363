"""The ABI drift check reads both shims' real sources, and any target's, and fails on drift."""

from __future__ import annotations

import shutil

from fuzzharness.contract.abi_check import (
    Signature,
    check_all,
    check_target,
    compare,
    contract_functions,
    go_exports,
    header_functions,
    header_minors,
    header_structs,
    read_rust_crate,
    rust_exports,
    rust_structs,
)
from fuzzharness.contract.header import DECLS_HEADER, PROJECT_ROOT
from fuzzharness.contract.registry import load_registry


def test_both_shims_match_the_header_today():
    header = header_functions(with_testing=True)
    assert len(header) == 19  # ABI 1.1: 17 contract functions + fh_test_set_mutant + fh_test_set_perturb
    assert set(rust_exports()) == set(header)
    assert set(go_exports()) == set(header)
    assert set(read_rust_crate(PROJECT_ROOT / "rust_shim").structs) >= set(header_structs()) and len(header_structs()) == 5
    assert check_all() == []


def test_drift_in_a_signature_is_reported():
    header = header_functions()
    exports = dict(header)
    write = header["fh_write"]
    exports["fh_write"] = Signature("fh_write", write.returns, write.params[:-1] + (("len", "uint32_t"),))
    del exports["fh_quiesce"]
    exports["fh_extra"] = Signature("fh_extra", "int32_t", ())
    problems = "\n".join(compare("rust", exports))
    assert "fh_write is" in problems and "uint32_t len" in problems
    assert "missing export int32_t fh_quiesce()" in problems
    assert "exports fh_extra" in problems
    assert compare("rust", dict(header)) == []


def test_drift_in_real_go_source_is_reported(tmp_path):
    shim = tmp_path / "go_shim"
    shutil.copytree(PROJECT_ROOT / "go_shim", shim, ignore=shutil.ignore_patterns("internal"))
    exports = shim / "exports.go"
    text = exports.read_text()
    assert "func fh_acquire(handle C.fh_handle)" in text
    exports.write_text(text.replace("func fh_acquire(handle C.fh_handle)", "func fh_acquire(handle C.uint32_t)"))
    problems = compare("go", go_exports(shim))
    assert len(problems) == 1 and "fh_acquire" in problems[0] and "uint32_t handle" in problems[0]


def test_drift_in_real_rust_source_is_reported(tmp_path):
    ffi = tmp_path / "ffi.rs"
    text = (PROJECT_ROOT / "rust_shim" / "src" / "ffi.rs").read_text()
    drifted = text.replace("fn fh_read(", "fn fh_read_renamed(", 1)
    assert drifted != text
    ffi.write_text(drifted)
    problems = "\n".join(compare("rust", rust_exports(ffi)))
    assert "missing export" in problems and "fh_read(" in problems
    assert "exports fh_read_renamed" in problems


def test_function_pointer_fields_are_compared_in_one_spelling():
    """ABI 1.1's struct fh_backend holds C function pointers: the header's typedef'd
    pointers and Rust's `Option<unsafe extern "C" fn(..) -> ..>` normalize alike."""
    backend = dict(header_structs()["fh_backend"])
    assert backend["foreign_release"] == "fn(uint64_t, uint32_t) -> int32_t"
    assert backend["set_collector"] == "fn(fn() -> void) -> int32_t"
    assert backend["read"] == "fn(uint64_t, uint64_t, uint8_t *, size_t) -> int32_t"
    source = '''
pub type fh_status = i32;
pub type fh_handle = u64;
pub type fh_collector_fn = Option<unsafe extern "C" fn()>;
#[repr(C)]
pub struct Pointers {
    /// doc, with a comma
    pub release: Option<unsafe extern "C" fn(handle: fh_handle, ack: u32) -> fh_status>,
    pub read: unsafe extern "C" fn(u64, u64, *mut u8, usize) -> i32,
    pub collect: Option<unsafe extern "C" fn()>,
    pub count: u32,
}
'''
    fields = dict(rust_structs(text=source)["Pointers"])
    assert fields == {
        "release": "fn(uint64_t, uint32_t) -> int32_t",
        "read": "fn(uint64_t, uint64_t, uint8_t *, size_t) -> int32_t",
        "collect": "fn() -> void",
        "count": "uint32_t",
    }
    drifted = source.replace("ack: u32", "ack: u64")
    assert dict(rust_structs(text=drifted)["Pointers"])["release"] == "fn(uint64_t, uint64_t) -> int32_t"


# --------------------------------------------------------------------------- versions and out-of-tree sources

C_TO_RUST = {"uint64_t": "u64", "uint32_t": "u32", "int32_t": "i32", "size_t": "usize", "uint8_t": "u8", "char": "c_char"}
#: a library of our own names its structs as it likes: the exports say which is which
RUST_NAMES = {"fh_config": "Config", "fh_stats": "Stats", "fh_resource_info": "Info"}


def rust_type(ctype: str) -> str:
    base = ctype.split(" ")[0]
    rtype = RUST_NAMES.get(base) or C_TO_RUST[base]
    for _ in range(ctype.count("*")):
        rtype = f"*mut {rtype}"
    return rtype


def rust_library(minor: int, drop: tuple[str, ...] = (), extra: tuple[str, ...] = (), field_type: str = "u32",
                 structs: bool = True) -> str:  # fmt: skip
    """A Rust source exporting the contract functions of 1.minor (as an outside crate
    would write them: own struct names, #[no_mangle], a commented-out old export)."""
    functions = {**contract_functions(minor), **{n: header_functions()[n] for n in extra}}
    out = ["use std::ffi::c_char;", "// pub extern \"C\" fn fh_old_export() -> i32 { 0 }"]
    for name, sig in functions.items():
        if name in drop:
            continue
        params = ", ".join(f"{n}: {rust_type(t)}" for n, t in sig.params)
        out.append(f'#[no_mangle]\npub unsafe extern "C" fn {name}({params}) -> i32 {{\n    0\n}}')
    return "\n\n".join(out) + "\n" + (rust_structs_source(field_type) if structs else "")


def rust_structs_source(field_type: str = "u32") -> str:
    out = []
    for cname, rname in RUST_NAMES.items():
        fields = [f"    pub {f}: {C_TO_RUST[t] if (cname, f) != ('fh_config', 'capacity') else field_type},"
                  for f, t in header_structs()[cname]]  # fmt: skip
        out.append("#[repr(C)]\n#[derive(Clone, Copy)]\npub struct " + rname + " {\n" + "\n".join(fields) + "\n}")
    return "\n\n".join(out) + "\n"


def out_of_tree(tmp_path, source: str):
    (tmp_path / "adapter" / "src").mkdir(parents=True, exist_ok=True)
    (tmp_path / "adapter" / "src" / "lib.rs").write_text(source)
    (tmp_path / "registry.toml").write_text(
        '[targets.outside]\nlanguage = "Rust"\nsource = "adapter"\nstrategies = ["IMMEDIATE"]\ndeferred = "IMMEDIATE"\n'
        '[targets.outside.variants.release]\nbuild = ["cargo", "build"]\nlibrary = "{build}/liboutside.so"\n'
    )
    return check_target(load_registry(tmp_path / "registry.toml")["outside"])


def test_each_function_has_the_minor_of_its_header_section(tmp_path, monkeypatch):
    minors = header_minors()
    added = {name for name, minor in minors.items() if minor == 1}
    assert added == {"fh_drain_reclaim_events", "fh_clock_ns", "fh_backend_table", "fh_attach_backend",
                     "fh_reclaim_event", "fh_backend"}  # fmt: skip
    assert len(contract_functions(0)) == 13 and len(contract_functions(1)) == len(contract_functions()) == 17
    # read from the header's banners, not a list: a new section's function gets its minor
    from fuzzharness.contract import abi_check

    header = tmp_path / "decls.h"
    header.write_text(DECLS_HEADER.read_text() + "\n/* ===== *\n * 1.2: MORE\n * ===== *\n */\nfh_status fh_more(void);\n")
    monkeypatch.setattr(abi_check, "DECLS_HEADER", header)
    assert header_minors()["fh_more"] == 2 and header_minors()["fh_create"] == 0


def test_a_1_0_rust_library_of_our_own_naming_passes(tmp_path):
    result = out_of_tree(tmp_path, rust_library(0))
    assert result.problems == []
    assert result.checked == [f"Rust sources under {tmp_path / 'adapter'}: 13 exports, 3 #[repr(C)] structs, "
                              "ABI 1.0 by its exports"]  # fmt: skip


def test_drift_in_an_outside_rust_library_is_named(tmp_path):
    problems = "\n".join(out_of_tree(tmp_path, rust_library(0, drop=("fh_quiesce",), field_type="u64")).problems)
    assert "outside (Rust sources): missing export int32_t fh_quiesce()" in problems
    assert "struct fh_config fields [('capacity', 'uint64_t')" in problems  # Config stands for fh_config


def test_one_1_1_export_makes_a_source_1_1(tmp_path):
    problems = "\n".join(out_of_tree(tmp_path, rust_library(0, extra=("fh_clock_ns",))).problems)
    assert "missing export int32_t fh_drain_reclaim_events(" in problems
    assert "no #[repr(C)] struct for fh_backend" in problems and "fh_clock_ns" not in problems


def test_go_exports_are_found_in_subpackages_not_in_tests(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "x.go").write_text(
        'package pkg\n\n//export fh_init\nfunc fh_init(config *C.struct_fh_config) C.fh_status {\n\treturn 0\n}\n'
    )
    (tmp_path / "x_test.go").write_text("package main\n\n//export fh_quiesce\nfunc fh_quiesce() C.int {\n\treturn 0\n}\n")
    exports = go_exports(tmp_path)
    assert set(exports) == {"fh_init"} and exports["fh_init"] == header_functions()["fh_init"]


KIT_MACRO = """
#[macro_export]
macro_rules! export_quiesce {
    ($adapter:ty) => {
        #[no_mangle]
        pub extern "C" fn fh_quiesce() -> i32 {
            0
        }
    };
}
"""


def test_exports_of_a_kit_macro_count_only_where_the_crate_invokes_it(tmp_path):
    """An adapter built on a kit exports through the kit's macro (a path dependency):
    those exports are the crate's when it invokes the macro, and never hide a missing one."""
    kit = tmp_path / "kit"
    (kit / "src").mkdir(parents=True)
    (kit / "src" / "lib.rs").write_text(KIT_MACRO)
    (kit / "src" / "types.rs").write_text(rust_structs_source())
    (kit / "Cargo.toml").write_text('[package]\nname = "kit"\n')
    crate = tmp_path / "adapter"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "adapter"\n[dependencies]\nkit = { path = "../kit" }\n')
    own = rust_library(0, drop=("fh_quiesce",), structs=False)  # the structs are the kit's
    (crate / "src" / "lib.rs").write_text(own)
    without = read_rust_crate(crate)
    assert without.directories == (crate, kit) and set(without.structs) == {"fh_config", "fh_stats", "fh_resource_info"}
    assert "fh_quiesce" not in without.exports
    (crate / "src" / "lib.rs").write_text(own + "\nkit::export_quiesce!(Adapter);\n")
    with_macro = read_rust_crate(crate)
    assert with_macro.exports["fh_quiesce"] == header_functions()["fh_quiesce"]
    assert compare("adapter", with_macro.exports, minor=0) == [] and compare("adapter", without.exports, minor=0) != []


def test_go_exports_of_an_imported_kit_package_count(tmp_path):
    """A Go adapter built on a kit imports the kit's exporting package from a module
    its go.mod replaces by a local directory; an exporting package it does not import
    does not count."""
    (tmp_path / "kit" / "cabi").mkdir(parents=True)
    (tmp_path / "kit" / "cabi" / "exports.go").write_text(
        'package cabi\n\nimport "C"\n\n//export fh_quiesce\nfunc fh_quiesce() C.fh_status {\n\treturn 0\n}\n'
    )
    (tmp_path / "kit" / "other").mkdir()
    (tmp_path / "kit" / "other" / "x.go").write_text("package other\n\n//export fh_clock_ns\nfunc fh_clock_ns(out *C.uint64_t) C.fh_status {\n\treturn 0\n}\n")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "go.mod").write_text("module adapter\n\ngo 1.26\n\nreplace (\n\texample.org/kit v0.0.0 => ../kit\n)\n")
    (adapter / "main.go").write_text('package main\n\nimport (\n\t"fmt"\n\t"example.org/kit/cabi"\n)\n\nfunc main() {}\n')
    exports = go_exports(adapter)
    assert set(exports) == {"fh_quiesce"} and exports["fh_quiesce"] == header_functions()["fh_quiesce"]
