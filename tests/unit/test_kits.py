"""The adapter kits' generated contract sources never drift from the header.

``kits/rust/src/contract.rs`` and ``testing.rs`` are committed output of
``python -m fuzzharness.contract.kitgen``: regenerating them from the headers as they
are must change nothing. The generator itself is checked on edited headers (a new
status, a new field, a construct it cannot read), and the kit's structs and the
exports its macro emits are compared with the header by the ABI drift checker's own,
independent parser (:mod:`fuzzharness.contract.abi_check`).
"""

from __future__ import annotations

import re

import pytest

from fuzzharness.contract import kitgen
from fuzzharness.contract.abi_check import compare, compare_structs, contract_functions, rust_exports, rust_structs
from fuzzharness.contract.header import DECLS_HEADER, PROJECT_ROOT, TESTING_DECLS_HEADER, Status
from fuzzharness.errors import CorruptInput

KIT_SRC = kitgen.RUST_KIT / "src"


def test_the_committed_generated_files_match_the_headers():
    stale = kitgen.stale_files()
    assert not stale, (
        f"{', '.join(str(p.relative_to(PROJECT_ROOT)) for p in stale)} differ from a fresh generation from "
        "targets/include: run `python -m fuzzharness.contract.kitgen` and commit the result"
    )
    assert set(kitgen.generated_files()) == {KIT_SRC / "contract.rs", KIT_SRC / "testing.rs"}


def test_every_status_strategy_and_mutant_of_the_headers_is_a_constant():
    contract = (KIT_SRC / "contract.rs").read_text()
    for status in Status:
        assert f"pub const FH_{status.name}: i32 = {int(status)};" in contract
    assert "pub const FH_RECLAIM_EPOCH: u32 = 1;" in contract
    assert "pub const FH_ABI_MAJOR: u32 = 1;" in contract
    testing = (KIT_SRC / "testing.rs").read_text()
    assert "pub const FH_MUTANT_SHARED_LAST_ERROR: u32 = 16;" in testing


def test_the_kits_structs_agree_with_the_header_by_the_abi_checkers_reading():
    structs = rust_structs(KIT_SRC)
    assert set(structs) >= {"fh_config", "fh_stats", "fh_resource_info", "fh_reclaim_event", "fh_backend"}
    assert compare_structs("kits/rust", structs) == []


def test_the_export_macro_emits_exactly_the_1_0_functions_as_the_header_declares_them():
    exports = rust_exports(KIT_SRC / "ffi.rs")
    assert set(exports) == set(contract_functions(0))
    assert compare("kits/rust", exports, with_testing=False, minor=0) == []


def test_a_header_change_changes_the_output():
    text = DECLS_HEADER.read_text()
    edited = text.replace("FH_NOT_HELD = 14", "FH_NOT_HELD = 14,\n    FH_BRAND_NEW = 15 /* a new [status] <here> */", 1)
    edited = edited.replace("uint32_t read_only;", "uint32_t read_only;\n    uint64_t extra;  /* added */", 1)
    assert edited.count("FH_BRAND_NEW") == 1 and edited.count("extra;") == 1
    before = kitgen.rust_contract(kitgen.parse_header(text, DECLS_HEADER.name))
    after = kitgen.rust_contract(kitgen.parse_header(edited, DECLS_HEADER.name))
    assert "pub const FH_BRAND_NEW: i32 = 15;" in after and "FH_BRAND_NEW" not in before
    assert "/// a new \\[status\\] \\<here>" in after, "markdown links and HTML are escaped in docs"
    assert "    pub extra: u64,\n" in after
    # the C layout the generator computes follows the new field: 16 -> 24 bytes
    assert "size_of::<fh_resource_info>() == 16" in before
    assert "size_of::<fh_resource_info>() == 24" in after


def test_the_generated_rust_mirrors_the_header_field_by_field():
    header = kitgen.parse_header(DECLS_HEADER.read_text(), DECLS_HEADER.name)
    contract = (KIT_SRC / "contract.rs").read_text()
    for struct in header.structs:
        body = re.search(rf"pub struct {struct.name} \{{(.*?)\n\}}", contract, re.S)
        assert body, struct.name
        fields = re.findall(r"pub (\w+):", body.group(1))
        assert fields == [f.name for f in struct.fields], struct.name
    backend = next(s for s in header.structs if s.name == "fh_backend")
    assert [f.value for f in backend.fields][:3] == ["uint32_t", "uint32_t", "fh_init_fn"]
    assert 'pub set_collector: Option<unsafe extern "C" fn(collect: Option<unsafe extern "C" fn()>) -> i32>,' in (
        contract
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("uint32_t refs;", "float refs;"), "struct fh_resource_info: refs: unknown C type 'float'"),
        (("FH_NOT_HELD = 14", "FH_NOT_HELD = 0x0E"), "FH_NOT_HELD = '0x0E' is not a decimal number"),
        (("FH_NOT_HELD = 14", "FH_NOT_HELD"), "enum fh_status_code: cannot read 'FH_NOT_HELD'"),
    ],
)
def test_what_the_generator_cannot_read_is_named(edit, message):
    edited = DECLS_HEADER.read_text().replace(*edit, 1)
    with pytest.raises(CorruptInput, match=re.escape(message)) as info:
        kitgen.rust_contract(kitgen.parse_header(edited, "edited.h"))
    assert str(info.value).startswith("edited.h: ")


def test_stale_files_names_a_differing_or_missing_file(tmp_path):
    good, bad, missing = tmp_path / "good.rs", tmp_path / "bad.rs", tmp_path / "missing.rs"
    good.write_text("same")
    bad.write_text("old")
    assert kitgen.stale_files({good: "same", bad: "new", missing: "x"}) == [bad, missing]


def test_check_mode_passes_today_and_writes_nothing(capsys):
    before = {p: p.stat().st_mtime_ns for p in kitgen.generated_files()}
    assert kitgen.main(["--check"]) == 0
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert capsys.readouterr().err == ""
    testing = kitgen.parse_header(TESTING_DECLS_HEADER.read_text(), TESTING_DECLS_HEADER.name)
    assert [e.name for e in testing.enums] == ["fh_mutant"]


def test_unsafe_code_is_allowed_in_the_kits_ffi_module_only():
    lib = (KIT_SRC / "lib.rs").read_text()
    assert "#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]" in lib
    assert re.findall(r"#\[allow\(unsafe_code\)\]\s*pub mod (\w+);", lib) == ["ffi"]
    for path in sorted(KIT_SRC.glob("*.rs")):
        if path.name not in ("ffi.rs", "lib.rs"):
            assert "allow(unsafe_code)" not in path.read_text(), path.name
