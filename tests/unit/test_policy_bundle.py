"""Loading a policy directory, its version hash, and finding the OPA binary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.errors import OpaUnavailable, PolicyCompileError
from runtime.policy import bundle as bundle_module
from runtime.policy.bundle import bundle_hash, find_opa, load_bundle

POLICY = "package x\n\nallow := true\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_bundle_loads_policies_and_data_but_not_tests(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "x.rego": POLICY,
            "x_test.rego": "package x_test\n",
            "data.json": '{"runtime_data": {"a": 1}}',
            "notes.md": "ignored",
        },
    )
    loaded = load_bundle(root)
    assert dict(loaded.modules) == {"x.rego": POLICY}
    assert loaded.data == {"runtime_data": {"a": 1}}


def test_nested_data_files_land_under_their_directory_path(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "x.rego": POLICY,
            "data.json": '{"a": {"keep": true}}',
            "a/b/data.json": '{"c": 2}',
        },
    )
    assert load_bundle(root).data == {"a": {"keep": True, "b": {"c": 2}}}


def test_version_is_the_hash_of_paths_and_contents(tmp_path: Path) -> None:
    root = write(tmp_path, {"x.rego": POLICY, "data.json": "{}"})
    expected = bundle_hash({"data.json": b"{}", "x.rego": POLICY.encode()})
    assert load_bundle(root).version == expected
    assert expected.startswith("sha256:") and len(expected) == len("sha256:") + 64


def test_version_changes_with_any_policy_byte_but_not_with_tests(tmp_path: Path) -> None:
    root = write(tmp_path, {"x.rego": POLICY})
    before = load_bundle(root).version
    write(root, {"x_test.rego": "package x_test\n"})
    assert load_bundle(root).version == before
    write(root, {"x.rego": POLICY + "\n"})
    assert load_bundle(root).version != before


def test_renaming_a_file_changes_the_version(tmp_path: Path) -> None:
    assert bundle_hash({"a.rego": b"x"}) != bundle_hash({"b.rego": b"x"})


def test_invalid_data_json_is_a_compile_error(tmp_path: Path) -> None:
    root = write(tmp_path, {"x.rego": POLICY, "data.json": "{nope"})
    with pytest.raises(PolicyCompileError, match=r"^data\.json: invalid JSON: "):
        load_bundle(root)


def test_directory_without_policies_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyCompileError) as excinfo:
        load_bundle(tmp_path)
    assert str(excinfo.value) == f"Policy directory {tmp_path.resolve()} holds no .rego modules."


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(PolicyCompileError) as excinfo:
        load_bundle(missing)
    assert str(excinfo.value) == f"Policy directory {missing} does not exist."


# rego/ is the shipped policy library, not a project: tests of the library itself read it.
def test_built_in_data_stays_out_of_the_rule_packages() -> None:
    data = json.loads((Path(__file__).parents[2] / "rego" / "data.json").read_text())
    assert list(data) == ["runtime_data"]


def test_missing_opa_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(bundle_module, "go_bin_dir", lambda: None)
    with pytest.raises(OpaUnavailable) as excinfo:
        find_opa()
    assert str(excinfo.value) == "OPA not found: run scripts/setup.sh (installs opa v1.22.2)"


def test_managed_server_without_opa_names_the_embedded_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from runtime.policy.opa import OpaServerEngine

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(bundle_module, "go_bin_dir", lambda: None)
    with pytest.raises(OpaUnavailable) as excinfo:
        OpaServerEngine(Path(__file__).parents[2] / "rego")
    assert str(excinfo.value) == (
        "OPA not found: run scripts/setup.sh (installs opa v1.22.2), or set "
        'policy_engine = "embedded" in runtime.toml (the embedded engine needs no OPA binary)'
    )


def test_opa_is_found_under_home_go_bin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "go" / "bin" / "opa"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(bundle_module, "go_bin_dir", lambda: None)
    assert find_opa() == binary


def test_opa_on_path_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "opa"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_opa() == binary


def test_missing_opa_fails_opa_tests_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import fixtures_policy

    def missing() -> Path:
        raise OpaUnavailable("OPA not found: run scripts/setup.sh (installs opa v1.22.2)")

    monkeypatch.setattr(fixtures_policy, "find_opa", missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^OPA not found: run scripts/setup.sh"):
        fixtures_policy.require_opa()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match=r"^OPA not found: run scripts/setup.sh"):
        fixtures_policy.require_opa()
