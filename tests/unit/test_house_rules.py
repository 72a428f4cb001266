"""Issue 13's house rules that hold for the whole tree: modules small enough to have one job,
the policy library laid out a package per folder, the README's JSON example in step with the
result models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.models import RunResult, StepReport
from tests.conftest import REPO

MAX_MODULE_LINES = 500


def test_no_module_over_500_lines() -> None:
    sources = sorted([*(REPO / "runtime").rglob("*.py"), *(REPO / "sandbox").rglob("*.py")])
    too_long = {
        str(path.relative_to(REPO)): lines
        for path in sources
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"split these by concern: {too_long}"


# rego/ is the shipped policy library, not a project: tests of the library itself read it.
@pytest.mark.parametrize(
    "module",
    sorted((REPO / "rego").rglob("*.rego")),
    ids=lambda path: str(path.relative_to(REPO / "rego")),
)
def test_each_policy_module_is_in_its_folders_package(module: Path) -> None:
    """OPA's convention: package path = folder path (a test module may add `_test`)."""
    package = re.search(r"^package\s+(\S+)", module.read_text(encoding="utf-8"), re.MULTILINE)
    assert package is not None, f"{module} declares no package"
    folder = ".".join(module.parent.relative_to(REPO / "rego").parts)
    allowed = {folder, f"{folder}_test"} if module.name.endswith("_test.rego") else {folder}
    assert package.group(1) in allowed


def test_the_readme_json_example_uses_only_fields_the_result_has() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("--team analyst --json", 1)[1].split("```", 1)[0]
    shown = set(re.findall(r'"(\w+)":', example))
    assert {"run_id", "status", "steps", "decision"} <= shown
    # `record` is what `exec --json` adds beside the RunResult (runtime/cli/drive.py).
    assert shown <= set(RunResult.model_fields) | set(StepReport.model_fields) | {"record"}


def test_setup_installs_python_packages_only_into_its_venv() -> None:
    """Debian's own python3 refuses pip outside a venv (externally-managed-environment):
    every pip install in scripts/setup.sh runs the venv's python, and the README says how
    to enter the venv."""
    script = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert re.search(r'^PY="\$VENV/bin/python"$', script, re.MULTILINE)
    installs = [
        line.strip()
        for line in script.splitlines()
        if "pip install" in line and not line.lstrip().startswith(("#", "say "))
    ]
    assert installs and all(line.startswith('"$PY" -m pip install') for line in installs)
    assert "source .venv/bin/activate" in (REPO / "README.md").read_text(encoding="utf-8")
