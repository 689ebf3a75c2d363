"""Out-of-tree targets: a registry file of the user's own, beside the user's library.

Its targets are added to the bundled ones, its paths are its own (relative to its
directory, ``{root}`` and ``{build}`` expanded everywhere), every child process of a
command sees it, a bad file is one line naming it, and ``abi-check`` checks its targets
(a tiny C library built with gcc from the registry's build command stands for a 1.0
library nobody here wrote).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzzharness.contract.handles import EXACT
from fuzzharness.contract.header import INCLUDE_DIR, PROJECT_ROOT
from fuzzharness.contract.registry import REGISTRY_ENV, REGISTRY_FILE, build, load_registry, use_registry
from fuzzharness.errors import CorruptInput, InvalidArgument

MYLIB = """
[targets.mylib]
language = "C, by another team"
source = "src"
requires = ["{root}/tools/cc"]
strategies = ["IMMEDIATE"]
deferred = "IMMEDIATE"
handles = "opaque"
reuse = "after-death"
stale_status = "invalid-or-stale"

[targets.mylib.variants.release]
build = ["sh", "build.sh", "{build}/mylib/libmylib.so"]
library = "{build}/mylib/libmylib.so"
env = { MYLIB_HOME = "{root}", LEVEL = 2 }
"""


def write_registry(directory: Path, text: str = MYLIB, name: str = "registry.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The command line with no user registry but what ``env`` gives it."""
    full = {k: v for k, v in os.environ.items() if k != REGISTRY_ENV}
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), full.get("PYTHONPATH")]))
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "fuzzharness.cli", *args], capture_output=True, text=True,
                          timeout=120, env=full, cwd=cwd)  # fmt: skip


@pytest.fixture
def no_user_registry(monkeypatch):
    """Whatever the test sets in the environment is undone afterwards."""
    monkeypatch.setenv(REGISTRY_ENV, "")
    monkeypatch.delenv(REGISTRY_ENV)


# --------------------------------------------------------------------------- the file and its paths


def test_a_user_registrys_paths_are_relative_to_its_directory(tmp_path, monkeypatch, no_user_registry):
    project = tmp_path / "their project"
    path = write_registry(project)
    monkeypatch.chdir(tmp_path)  # not the file's directory: paths must not depend on it
    monkeypatch.setenv(REGISTRY_ENV, str(path))
    registry = load_registry()
    assert list(registry) == ["rust", "go", "go+rust", "mylib"]  # added to the bundled targets
    spec = registry["mylib"]
    assert spec.source == project / "src" and spec.registry == path
    assert spec.requires == (f"{project}/tools/cc",)
    release = spec.variant("release")
    assert release.build == ("sh", "build.sh", f"{project}/build/mylib/libmylib.so")
    assert release.library == project / "build" / "mylib" / "libmylib.so"
    assert release.env == {"MYLIB_HOME": str(project), "LEVEL": "2"}
    assert (spec.policy.handles, spec.policy.reuse, spec.policy.stale_status) == ("opaque", "after-death", "invalid-or-stale")
    assert registry["rust"].source == PROJECT_ROOT / "rust_shim"  # the bundled file keeps its own root


def test_the_root_key_moves_the_root(tmp_path):
    spec = load_registry(write_registry(tmp_path / "cfg", 'root = "../lib"\n' + MYLIB))["mylib"]
    assert spec.source == tmp_path / "lib" / "src"
    assert spec.variant("release").library == tmp_path / "lib" / "build" / "mylib" / "libmylib.so"


def test_the_bundled_file_means_the_project_root():
    assert 'root = ".."' in REGISTRY_FILE.read_text()
    spec = load_registry(REGISTRY_FILE)["go"]
    assert spec.source == PROJECT_ROOT / "go_shim"
    assert spec.variant("release").library == PROJECT_ROOT / "build" / "go" / "release" / "libfuzzharness_go.so"


def test_a_user_pair_may_pair_a_bundled_target(tmp_path, monkeypatch, no_user_registry):
    pair = '[targets."mylib+rust"]\npair = { owner = "rust", foreign = "mylib" }\n' \
           'strategies = ["GUARDED", "IMMEDIATE"]\nimmediate = "GUARDED"\ndeferred = "GUARDED"\n'  # fmt: skip
    monkeypatch.setenv(REGISTRY_ENV, str(write_registry(tmp_path, MYLIB + pair)))
    spec = load_registry()["mylib+rust"]
    assert {role: m.name for role, m in spec.members.items()} == {"owner": "rust", "foreign": "mylib"}


def test_a_name_in_both_files_is_an_error_naming_both(tmp_path, monkeypatch, no_user_registry):
    path = write_registry(tmp_path, MYLIB.replace("mylib", "go"))
    monkeypatch.setenv(REGISTRY_ENV, str(path))
    with pytest.raises(CorruptInput) as info:
        load_registry()
    assert str(path) in str(info.value) and str(REGISTRY_FILE) in str(info.value) and "'go'" in str(info.value)


def test_naming_the_bundled_file_is_no_clash(monkeypatch, no_user_registry):
    monkeypatch.setenv(REGISTRY_ENV, str(REGISTRY_FILE))
    assert list(load_registry()) == ["rust", "go", "go+rust"]


def test_every_child_process_sees_the_registry(tmp_path, monkeypatch, no_user_registry):
    write_registry(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert use_registry(Path("registry.toml")) == tmp_path / "registry.toml"
    assert os.environ[REGISTRY_ENV] == str(tmp_path / "registry.toml")  # absolute: children may chdir
    child = subprocess.run(
        [sys.executable, "-c", "from fuzzharness.contract.registry import load_registry; print(*load_registry())"],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert child.stdout.split() == ["rust", "go", "go+rust", "mylib"], child.stderr


@pytest.mark.parametrize(
    ("case", "content", "message"),
    [
        ("missing", None, "No such file or directory"),
        ("directory", "dir", "not a regular file"),
        ("fifo", "fifo", "not a regular file"),
        ("not toml", "[targets.mylib\n", "not valid TOML"),
        ("deeply nested", "x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("not utf-8", b"\xff\xfe[targets]", "not UTF-8"),
        ("unknown target key", MYLIB.replace("handles =", "handels ="),
         "[targets.mylib]: unknown key 'handels' (known keys: language, source"),
        ("unknown variant key", MYLIB.replace("library =", "libary ="), "variant 'release': unknown key 'libary'"),
        ("unknown top-level key", "rot = '.'\n" + MYLIB, "unknown key 'rot' (known keys: root, targets)"),
        ("build is no list", MYLIB.replace('build = ["sh", "build.sh", "{build}/mylib/libmylib.so"]', 'build = "make"'),
         "build must be a list"),
        ("unknown placeholder", MYLIB.replace("{root}/tools", "{rot}/tools"), "unknown placeholder {rot}"),
        ("bad policy", MYLIB.replace('"after-death"', '"sometimes"'), "reuse = 'sometimes' is not one of"),
        ("a target is no table", "[targets]\nmylib = 3\n", "[targets.mylib]: must be a table"),
        ("no targets", "root = '.'\n", "no [targets.*] tables"),
    ],
)  # fmt: skip
def test_a_bad_registry_is_one_line_exit_2(tmp_path, case, content, message):
    path = tmp_path / "registry.toml"
    if content == "dir":
        path.mkdir()
    elif content == "fifo":
        os.mkfifo(path)  # st_size 0, and a read would block
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises((CorruptInput, InvalidArgument)) as info:
        load_registry(path)
    assert str(path) in str(info.value) and message in str(info.value) and "\n" not in str(info.value)
    # through the command line: each case in one of the three ways of naming the file
    args, env = [
        (("--registry", str(path), "targets", "--json"), None),
        (("fuzz", "--registry", str(path), "--targets", "rust", "--runs", "1"), None),
        (("abi-check",), {REGISTRY_ENV: str(path)}),
    ][len(case) % 3]
    proc = run_cli(*args, env=env)
    assert proc.returncode == 2, (case, args, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(path) in proc.stderr and message in proc.stderr, proc.stderr


def test_the_option_wins_over_the_variable_before_or_after_the_command(tmp_path):
    first = write_registry(tmp_path / "a", MYLIB.replace("mylib", "alib"))
    second = write_registry(tmp_path / "b", MYLIB.replace("mylib", "blib"))

    def registered(*args: str) -> str:  # an unknown target: the error lists the registered ones
        proc = run_cli(*args, env={REGISTRY_ENV: str(first)})
        assert proc.returncode == 2, proc.stderr
        return proc.stderr.strip().rpartition("registered: ")[2]

    assert registered("fuzz", "--targets", "cobol") == "rust, go, go+rust, alib"
    assert registered("--registry", str(second), "fuzz", "--targets", "cobol") == "rust, go, go+rust, blib"
    assert registered("stress", "--targets", "cobol", "--registry", str(second)) == "rust, go, go+rust, blib"


def test_targets_shows_the_handle_policy(tmp_path):
    path = write_registry(tmp_path)
    proc = run_cli("--registry", str(path), "targets", "--targets", "mylib", "--json")
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)
    assert (row["handles"], row["reuse"], row["stale_status"]) == ("opaque", "after-death", "invalid-or-stale")
    assert row["registry"] == str(path) and not row["built"]
    table = run_cli("--registry", str(path), "targets", "--targets", "mylib").stdout
    assert "opaque, reuse after-death, invalid-or-stale" in table and f"targets of {path}: mylib" in table
    assert load_registry(REGISTRY_FILE)["rust"].policy == EXACT  # the bundled shims say nothing: exact


def test_an_unbuilt_user_target_says_how_to_build_it(tmp_path):
    path = write_registry(tmp_path)
    proc = run_cli("--registry", str(path), "fuzz", "--targets", "mylib,rust", "--runs", "1")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert f"run 'fuzzharness --registry {path} build --target mylib --variant release'" in proc.stderr


# --------------------------------------------------------------------------- abi-check of a library nobody here wrote

FAKE_C = r"""
#include "fuzzharness.h"
#ifndef MINOR
#define MINOR 0
#endif
/* Contract 1.0 and nothing else; the session itself is none of this test's business. */
fh_status fh_abi_version(uint32_t *major, uint32_t *minor) {
    if (!major || !minor) return FH_NULL_ARGUMENT;
    *major = 1; *minor = MINOR; return FH_OK;
}
fh_status fh_init(fh_config *config) { (void)config; return FH_UNSUPPORTED; }
fh_status fh_shutdown(fh_stats *report) { (void)report; return FH_NOT_INITIALIZED; }
fh_status fh_create(uint64_t size, fh_handle *out) { (void)size; (void)out; return FH_NOT_INITIALIZED; }
fh_status fh_acquire(fh_handle handle) { (void)handle; return FH_NOT_INITIALIZED; }
fh_status fh_release(fh_handle handle) { (void)handle; return FH_NOT_INITIALIZED; }
fh_status fh_write(fh_handle h, uint64_t o, uint8_t *d, size_t n) { (void)h; (void)o; (void)d; (void)n; return FH_NOT_INITIALIZED; }
fh_status fh_read(fh_handle h, uint64_t o, uint8_t *b, size_t n) { (void)h; (void)o; (void)b; (void)n; return FH_NOT_INITIALIZED; }
fh_status fh_snapshot(fh_handle handle, fh_handle *out) { (void)handle; (void)out; return FH_NOT_INITIALIZED; }
fh_status fh_info(fh_handle handle, fh_resource_info *out) { (void)handle; (void)out; return FH_NOT_INITIALIZED; }
fh_status fh_get_stats(fh_stats *out) { (void)out; return FH_NOT_INITIALIZED; }
fh_status fh_quiesce(void) { return FH_NOT_INITIALIZED; }
fh_status fh_last_error(char *buf, size_t cap, size_t *out_len) {
    if (!out_len) return FH_NULL_ARGUMENT;
    if (cap) buf[0] = 0;
    *out_len = 0; return FH_OK;
}
"""

FAKE = """
[targets.fake]
language = "C (a 1.0 library nobody here wrote)"
source = "src"
requires = ["sh", "gcc"]
strategies = ["IMMEDIATE"]
deferred = "IMMEDIATE"
handles = "opaque"

[targets.fake.variants.release]
build = ["sh", "-c", "gcc -shared -fPIC -I \\"$FH_INCLUDE\\" -o \\"$OUT\\" fake.c"]
library = "{{build}}/fake/release/libfake.so"
env = {{ OUT = "{{build}}/fake/release/libfake.so", FH_INCLUDE = "{include}" }}

[targets.fake.variants.claims-1-1]
build = ["gcc", "-shared", "-fPIC", "-DMINOR=1", "-I", "{include}", "-o", "{{build}}/fake/claims/libfake.so", "fake.c"]
library = "{{build}}/fake/claims/libfake.so"

[targets.fake.variants.unbuilt]
build = ["false"]
library = "{{build}}/fake/unbuilt/libfake.so"
"""


def test_abi_check_of_a_1_0_library_built_from_a_user_registry(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "fake.c").write_text(FAKE_C)
    path = write_registry(tmp_path, FAKE.format(include=INCLUDE_DIR))
    fake = load_registry(path)["fake"]
    # (through the API: `fuzzharness build` also builds the harness's native runner)
    assert build(fake, "release", quiet=True) == tmp_path / "build" / "fake" / "release" / "libfake.so"

    proc = run_cli("abi-check", "--built", "--targets", "fake", env={REGISTRY_ENV: str(path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr  # 1.0: no 1.1 function is asked for
    out = proc.stdout
    assert "checked: built release: 13 fh_* symbols, reports ABI 1.0" in out
    assert f"not checked: sources: none found under {tmp_path / 'src'}" in out
    assert "not checked: not built: claims-1-1, unbuilt" in out

    build(fake, "claims-1-1", quiet=True)
    proc = run_cli("--registry", str(path), "abi-check", "--built", "--targets", "fake")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "abi-check: fake: DRIFT" in proc.stdout
    assert "fake (claims-1-1)" in proc.stdout and "reports ABI 1.1, but exports [] unexpectedly, lacks " \
        "['fh_attach_backend', 'fh_backend_table', 'fh_clock_ns', 'fh_drain_reclaim_events']" in proc.stdout  # fmt: skip


def test_load_registry_names_a_missing_user_file_and_where_it_came_from(tmp_path, monkeypatch, no_user_registry):
    monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "gone.toml"))
    with pytest.raises(InvalidArgument, match=r"gone.toml: No such file.*FUZZHARNESS_REGISTRY"):
        load_registry()
