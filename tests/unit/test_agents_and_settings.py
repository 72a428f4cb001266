"""Teams are found in agents/*.py; settings layer runtime.toml < env < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.agents import Agent, Team, discover_teams, load_team
from runtime.errors import ConfigError
from runtime.settings import load_settings
from tests.fixtures import FIXTURE_PROJECT

AGENTS = FIXTURE_PROJECT / "agents"  # the tests' own teams, not the repo's examples


def test_fixture_teams_are_discovered() -> None:
    teams = discover_teams(AGENTS)
    assert sorted(teams) == ["analyst", "rogue"]
    assert [a.name for a in teams["analyst"].agents] == ["planner", "coder"]
    assert teams["analyst"].may_hand_off("planner", "coder")
    assert not teams["analyst"].may_hand_off("planner", "planner")


def test_unknown_team_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_team(AGENTS, "nope")
    assert str(info.value) == f"unknown team 'nope'; teams in {AGENTS}: analyst, rogue"


def test_team_validates_its_agents() -> None:
    agent = Agent(name="a", instruction="x", model="scripted:f")
    with pytest.raises(ValueError, match="hands off with unknown agent 'b'"):
        Team(name="t", agents=[agent], entry="a", handoffs={"a": ["b"]})
    with pytest.raises(ValueError, match="must match"):
        Agent(name="Bad Name", instruction="x", model="scripted:f")


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "runtime.toml").write_text('tenant = "from-toml"\nmax_steps = 5\nmax_denials = 2\n')
    monkeypatch.setenv("RUNTIME_MAX_STEPS", "7")
    settings = load_settings(project_dir=tmp_path, max_denials=9)
    assert (settings.tenant, settings.max_steps, settings.max_denials) == ("from-toml", 7, 9)
    assert settings.resolved_state_dir == (tmp_path / ".runtime").resolve()


def test_bad_setting_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(project_dir=tmp_path, policy_engine="magic")
    assert str(info.value) == "invalid setting policy_engine: Input should be 'opa' or 'embedded'"


@pytest.mark.parametrize("folder", ["agents", "tools"])
def test_a_broken_project_file_is_one_error_naming_it(tmp_path: Path, folder: str) -> None:
    """agents/*.py and tools/*.py are imported the same way (runtime/project_modules.py)."""
    from runtime.toolkit.discovery import discover_tools

    (tmp_path / folder).mkdir()
    broken = tmp_path / folder / "broken.py"
    broken.write_text("raise KeyError('oops')\n")
    (tmp_path / folder / "_private.py").write_text("raise SystemExit('never imported')\n")
    with pytest.raises(ConfigError) as info:
        discover_teams(tmp_path / folder) if folder == "agents" else discover_tools(
            tmp_path / folder
        )
    assert str(info.value) == f"{broken} failed to import: KeyError: 'oops'"
