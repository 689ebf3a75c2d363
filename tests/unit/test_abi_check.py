"""The ABI drift check reads both shims' real sources, and fails on drift."""

from __future__ import annotations

import shutil

from fuzzharness.contract.abi_check import (
    Signature,
    check_all,
    compare,
    go_exports,
    header_functions,
    header_structs,
    rust_exports,
    rust_structs,
)
from fuzzharness.contract.header import PROJECT_ROOT


def test_both_shims_match_the_header_today():
    header = header_functions(with_testing=True)
    assert len(header) == 18  # ABI 1.1: 17 contract functions + fh_test_set_mutant
    assert set(rust_exports()) == set(header)
    assert set(go_exports()) == set(header)
    assert len(rust_structs()) >= len(header_structs()) == 5
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


def test_function_pointer_fields_are_compared_in_one_spelling(tmp_path, monkeypatch):
    """ABI 1.1's struct fh_backend holds C function pointers: the header's typedef'd
    pointers and Rust's `Option<unsafe extern "C" fn(..) -> ..>` normalize alike."""
    from fuzzharness.contract import abi_check

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
    monkeypatch.setattr(abi_check, "_rust_sources", lambda: source)
    fields = dict(abi_check.rust_structs()["pointers"])
    assert fields == {
        "release": "fn(uint64_t, uint32_t) -> int32_t",
        "read": "fn(uint64_t, uint64_t, uint8_t *, size_t) -> int32_t",
        "collect": "fn() -> void",
        "count": "uint32_t",
    }
    drifted = source.replace("ack: u32", "ack: u64")
    monkeypatch.setattr(abi_check, "_rust_sources", lambda: drifted)
    assert dict(abi_check.rust_structs()["pointers"])["release"] == "fn(uint64_t, uint64_t) -> int32_t"
