"""The suite's own project (tests/fixtures) follows neither the repo's example teams nor the
grants a user adds to the library's data.json, and keeps every other library setting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import tests.fixtures as fixtures
from runtime.agents import discover_teams
from runtime.scaffold import builtin_policy_dir


@pytest.fixture
def edited_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the built-in library where a user added a team's grants and an agent's."""
    library = tmp_path / "library"
    shutil.copytree(builtin_policy_dir(), library)
    data = json.loads((library / "data.json").read_text())
    grants = data["runtime_data"]["authz"]["grants"]
    grants["agents"]["planner"]["tools"].append("python.run")
    grants["teams"]["mine"] = {"agents": {"helper": {"tools": ["fs.write"]}}}
    data["runtime_data"]["authz"]["budgets"]["default"] = 7
    (library / "data.json").write_text(json.dumps(data))
    monkeypatch.setattr(fixtures, "builtin_policy_dir", lambda: library)
    return library


def test_the_fixture_project_takes_only_its_own_teams_and_grants(
    edited_library: Path, tmp_path: Path
) -> None:
    root = fixtures.make_project(tmp_path / "project")
    assert sorted(discover_teams(root / "agents")) == ["analyst", "rogue"]
    data = json.loads((root / "rego" / "data.json").read_text())["runtime_data"]
    own = json.loads((fixtures.FIXTURE_PROJECT / "rego" / "data.json").read_text())
    assert data["authz"]["grants"] == own["runtime_data"]["authz"]["grants"]
    assert data["memory"]["shared"] == own["runtime_data"]["memory"]["shared"]
    assert data["authz"]["budgets"]["default"] == 7  # the library's other settings stay
    rules = sorted(p.relative_to(root / "rego") for p in (root / "rego").rglob("*.rego"))
    assert rules == sorted(p.relative_to(edited_library) for p in edited_library.rglob("*.rego"))


def test_the_fixture_data_holds_only_what_a_project_sets() -> None:
    own = json.loads((fixtures.FIXTURE_PROJECT / "rego" / "data.json").read_text())
    assert own == {
        "runtime_data": {
            "authz": {"grants": own["runtime_data"]["authz"]["grants"]},
            "memory": {"shared": own["runtime_data"]["memory"]["shared"]},
        }
    }
