"""Parsing real sanitizer / runtime reports (captured from the builds into tests/data/sanitizer/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzzharness.findings.memory import finding_kind_for
from fuzzharness.findings.store import FindingKind
from fuzzharness.oracles.sanitizer import demangle, parse_report, worker_environment

DATA = Path(__file__).resolve().parent.parent / "data" / "sanitizer"


def report(name: str):
    r = parse_report((DATA / name).read_text())
    assert r is not None, name
    return r


def test_heap_use_after_free_has_kind_access_and_project_frames():
    r = report("c-shim_uaf.txt")
    assert (r.kind, r.tool, r.access) == ("heap-use-after-free", "asan", "READ of size 1")
    assert r.state == ["heap-use-after-free", "shim_uaf"]
    assert str(r.frames[0]) == "shim_uaf src/shim.c:4"  # Python, cffi, libffi, libc frames trimmed
    assert all("_Py" not in f.function and "ffi_call" not in f.function for f in r.frames)
    assert r.freed_by and r.freed_by[0].function == "shim_uaf"
    assert finding_kind_for(r) is FindingKind.heap_use_after_free


def test_double_free_and_overflow():
    assert report("c-shim_double_free.txt").kind == "double-free"
    assert finding_kind_for(report("c-shim_double_free.txt")) is FindingKind.double_free
    r = report("c-shim_overflow.txt")
    assert (r.kind, r.access) == ("heap-buffer-overflow", "READ of size 1")
    assert finding_kind_for(r) is FindingKind.heap_buffer_overflow


def test_leak_report_names_the_allocation_site():
    r = report("c-lsan-leak.txt")
    assert (r.kind, r.leaked_bytes, r.leaked_objects) == ("leak", 77, 1)
    assert r.state == ["leak", "shim_leak"] and "src/shim.c:7" in r.location
    assert finding_kind_for(r) is FindingKind.leak


def test_rust_segv_under_asan_is_a_crash_with_rust_frames_demangled():
    r = report("rust-asan-segv.txt")
    assert (r.kind, r.access) == ("SEGV", "WRITE")
    assert r.state[1:] == [
        "fuzzharness_rust::ffi::write_through_null",
        "fuzzharness_rust::mutants::on_write",
        "fuzzharness_rust::session::Session::write",
    ]
    assert r.location == "fuzzharness_rust::ffi::write_through_null src/ffi.rs:350"
    assert finding_kind_for(r) is FindingKind.crash


def test_go_segv_under_asan_names_the_c_frame():
    r = report("go-asan-segv.txt")
    assert r.kind == "SEGV" and r.location.startswith("shim_write_through_null go_shim/crash_mutants.c:")


def test_go_panic_has_kind_and_location():
    r = report("go-abort.txt")
    assert (r.kind, r.tool) == ("go-panic", "go")
    assert "FH_MUTANT_ABORT" in r.headline
    assert r.project_frames[0].function.startswith("fuzzharness/go_shim/internal/table.")
    assert r.project_frames[0].location.startswith("go_shim/internal/table/")


def test_rust_abort_has_kind_and_location():
    r = report("rust-abort.txt")
    assert r.kind == "rust-panic-abort" and r.location.startswith("rust panic at src/")


@pytest.mark.parametrize("target", ["rust", "go"])
def test_plain_segfault_falls_back_to_the_fault_handler(target):
    r = report(f"{target}-segfault.txt")
    assert (r.kind, r.tool) == ("signal", "python") and r.location.startswith("fh call write")


def test_cgo_pointer_check_and_go_fatal_are_named():
    text = "panic: runtime error: cgo argument has Go pointer to unpinned Go pointer\n\ngoroutine 1 [running]:\n"
    assert parse_report(text).kind == "cgo-pointer-check"
    assert parse_report("fatal error: concurrent map writes\n").kind == "go-fatal"
    assert parse_report("nothing to see") is None


def test_state_never_contains_addresses():
    a, b = report("c-shim_uaf.txt"), report("c-shim_uaf.txt")
    assert a.state == b.state and not any("0x" in s for s in a.state)


def test_demangle_rust_legacy_symbols():
    assert demangle("_ZN16fuzzharness_rust3ffi8fh_write17h0123456789abcdefE") == "fuzzharness_rust::ffi::fh_write"
    assert demangle("_$LT$T$u20$as$u20$core..Foo$GT$::bar::h0123456789abcdef") == "<T as core::Foo>::bar"


def test_worker_environment_preloads_libasan_with_quiet_lsan():
    assert worker_environment(None) == {}
    env = worker_environment("asan", base={})
    assert env["LD_PRELOAD"].endswith("libasan.so") or "libasan.so." in env["LD_PRELOAD"]
    assert env["PYTHONMALLOC"] == "malloc"
    assert "detect_leaks=1" in env["ASAN_OPTIONS"] and "leak_check_at_exit=0" in env["ASAN_OPTIONS"]
    supp = Path(env["LSAN_OPTIONS"].split("suppressions=")[1].split(":")[0]).read_text()
    assert "_cffi_backend" not in supp.replace("NEVER suppress _cffi_backend", "")
    assert "leak:ffi_call" not in supp


@pytest.mark.parametrize("target", ["rust", "go"])
def test_one_segfault_has_one_signature_on_the_plain_and_the_asan_build(target):
    """The random lane (plain build, fault handler stack) and the asan lane (ASan's SEGV
    report) find the same planted segfault: one signature, so the campaign saves it once."""
    from fuzzharness.execution.supervisor import Failure
    from fuzzharness.findings.triage import findings_for
    from fuzzharness.programs.sequential import Config, Create, Program, Ref, Write

    program = Program(Config(), (Create(3), Write(Ref(0), 0, b"\xfd\x7a\x40")))
    plain = Failure("crash", -11, "SIGSEGV", (DATA / f"{target}-segfault.txt").read_text(), 2)
    asan = Failure("crash", 86, None, (DATA / f"{target}-asan-segv.txt").read_text(), 2)
    [a] = findings_for(program, {target: plain}, variant="mutants", seed=None, mutant=2)
    [b] = findings_for(program, {target: asan}, variant="mutants-asan", seed=None, mutant=2)
    assert a.kind is b.kind is FindingKind.crash
    assert a.signature == b.signature == ["crash", target, "SIGSEGV", "in fh call write"]
    assert a.id == b.id
    # ASan's frames are kept where a person reads them.
    assert "SEGV" in b.summary and b.details["report"]["frames"]
    # Without a fault handler stack, the call in flight names the site.
    bare = Failure("crash", -11, "SIGSEGV", "", 2)
    [c] = findings_for(program, {target: bare}, variant="mutants", seed=None, mutant=2)
    assert c.signature == a.signature
