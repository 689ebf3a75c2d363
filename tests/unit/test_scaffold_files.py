"""``new_target`` writes a template directory safely: names, languages, placeholders,
and never an overwritten file. (Building and fuzzing what it writes:
``tests/quality/test_scaffold.py`` and ``test_scaffold_go.py``.)"""

from __future__ import annotations

import tomllib

import pytest

from fuzzharness.contract import scaffold
from fuzzharness.contract.handles import parse_policy
from fuzzharness.contract.scaffold import languages, new_target, placeholders, validate_name
from fuzzharness.errors import CorruptInput, InvalidArgument


def test_both_languages_have_templates():
    assert {"rust", "go"} <= set(languages())


def test_a_rust_scaffold_fills_every_placeholder_and_registers_an_opaque_target(tmp_path):
    directory = tmp_path / "mylib"
    written = new_target("mylib", "rust", directory)
    assert {p.relative_to(directory).as_posix() for p in written} >= {
        "Cargo.toml", "src/lib.rs", "registry.toml", "README.md", ".gitignore",
    }  # fmt: skip
    assert all(p.is_file() for p in written)
    for path in written:
        assert not scaffold._PLACEHOLDER.search(path.read_text()), path.name
    cargo = tomllib.loads((directory / "Cargo.toml").read_text())
    assert cargo["package"]["name"] == "mylib"
    assert cargo["dependencies"]["fuzzharness-adapter"]["path"] == str(scaffold.KITS["rust"])
    registry = tomllib.loads((directory / "registry.toml").read_text())
    target = registry["targets"]["mylib"]
    assert parse_policy(target, "registry.toml").opaque
    assert target["source"] == "."
    release = target["variants"]["release"]
    assert release["library"].startswith("{build}/") and release["library"].endswith("/libmylib.so")
    assert "{build}/release" in release["build"]


@pytest.mark.parametrize("name", ["", "MyLib", "1lib", "my-lib", "my lib", "a" * 65, "fn", "type", "test",
                                  "fuzzharness_adapter", "rust", "go", "lib/../x", "café"])  # fmt: skip
def test_unsafe_or_reserved_names_are_refused(name, tmp_path):
    with pytest.raises(InvalidArgument, match="target name"):
        new_target(name, "rust", tmp_path / "x")
    assert not (tmp_path / "x").exists(), "a refused call writes nothing"


def test_safe_names_pass():
    assert validate_name("mylib") == "mylib"
    assert validate_name("my_lib2") == "my_lib2"


def test_an_unknown_language_names_the_known_ones(tmp_path):
    with pytest.raises(InvalidArgument, match=r"no templates for language 'cobol' \(it has: .*rust"):
        new_target("mylib", "cobol", tmp_path / "x")


def test_no_existing_file_is_overwritten_and_nothing_is_written_then(tmp_path):
    directory = tmp_path / "mylib"
    (directory / "src").mkdir(parents=True)
    (directory / "src" / "lib.rs").write_text("mine")
    with pytest.raises(InvalidArgument, match=r"src/lib.rs exists already: new-target never overwrites"):
        new_target("mylib", "rust", directory)
    assert (directory / "src" / "lib.rs").read_text() == "mine"
    assert sorted(p.name for p in directory.rglob("*")) == ["lib.rs", "src"], "no other file was written"
    # an unrelated file in the directory is fine
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    new_target("mylib", "rust", other)
    assert (other / "notes.txt").read_text() == "keep"
    with pytest.raises(InvalidArgument, match="exists already"):
        new_target("mylib", "rust", other)


def test_a_file_as_the_directory_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidArgument, match="is a file, not a directory"):
        new_target("mylib", "rust", tmp_path / "f")


def test_templates_are_rendered_generically(tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    (templates / "toy" / "{{name}}_dir").mkdir(parents=True)
    (templates / "toy" / "{{name}}_dir" / "main.txt.tmpl").write_text("hello {{name}} from {{project_root}}\n")
    (templates / "toy" / "blob.bin").write_bytes(b"\x00{{name}}\xff")
    monkeypatch.setattr(scaffold, "TEMPLATES", templates)
    assert languages() == ["toy"]
    written = new_target("mylib", "toy", tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == ["blob.bin", "mylib_dir/main.txt"]
    assert written[1].read_text() == f"hello mylib from {placeholders('mylib')['project_root']}\n"
    assert written[0].read_bytes() == b"\x00{{name}}\xff", "a file without .tmpl is copied as it is"
    (templates / "toy" / "bad.tmpl").write_text("{{nmae}}")
    with pytest.raises(CorruptInput, match=r"bad.tmpl: unknown placeholder \{\{nmae\}\} \(known: \{\{name\}\}"):
        new_target("mylib", "toy", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_placeholder_values_that_would_break_toml_are_refused(monkeypatch):
    monkeypatch.setitem(scaffold.KITS, "rust", scaffold.PROJECT_ROOT / 'odd"dir')
    with pytest.raises(InvalidArgument, match="kit_rust"):
        placeholders("mylib")
