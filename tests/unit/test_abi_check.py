"""The ABI drift check reads both shims' real sources, and fails on drift."""

from __future__ import annotations

import shutil

from fuzzharness.abi_check import (
    Signature,
    check_all,
    compare,
    go_exports,
    header_functions,
    header_structs,
    rust_exports,
    rust_structs,
)
from fuzzharness.contract import PROJECT_ROOT


def test_both_shims_match_the_header_today():
    header = header_functions(with_testing=True)
    assert len(header) == 14
    assert set(rust_exports()) == set(header)
    assert set(go_exports()) == set(header)
    assert len(rust_structs()) >= len(header_structs()) == 3
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
