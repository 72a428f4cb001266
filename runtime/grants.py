"""Where an agent's tool grants live, and which ones a team's agents are missing.

An agent's `tools` are what its model is offered and an upper bound on what it may call;
the policy (`runtime.authz`) stays the authority. A tool an agent declares that no grant
gives it is denied on its first call. This module finds those ahead of a run (`runtime
doctor`) and names the exact place to add the grant (the data file and the JSON path),
for the doctor and for the first such denial in a run. It reads the policy data; it never
decides anything.

Grants are keyed as the built-in library's `rego/runtime/authz/authz.rego` reads them:
`runtime_data.authz.grants.agents.<agent>.tools` (every team), and
`runtime_data.authz.grants.teams.<team>.agents.<agent>.tools` (that team only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.policy.bundle import DATA_FILE, load_bundle, policy_files

if TYPE_CHECKING:
    from runtime.agents import Team
    from runtime.models import Decision

GRANTS = ("runtime_data", "authz", "grants")


@dataclass(frozen=True)
class MissingGrant:
    """An agent declares `tool`, and no grant gives it to the agent in `team`."""

    team: str
    agent: str
    tool: str
    data_file: Path

    @property
    def path(self) -> str:
        return f"{'.'.join(GRANTS)}.agents.{self.agent}.tools"

    @property
    def team_path(self) -> str:
        return f"{'.'.join(GRANTS)}.teams.{self.team}.agents.{self.agent}.tools"

    def fix(self) -> str:
        """One sentence: the grant to add and the exact place."""
        return (
            f'add "{self.tool}" to {self.path} in {self.data_file} '
            f"(or to {self.team_path} for team {self.team} only)"
        )


def granted_tools(data: Any, team: str, agent: str) -> set[str]:
    """The tools the policy data grants `agent`, in every team and in `team`."""
    grants = _at(data, GRANTS)
    tools = set(_strings(_at(grants, ("agents", agent, "tools"))))
    tools |= set(_strings(_at(grants, ("teams", team, "agents", agent, "tools"))))
    return tools


def missing_grants(team: Team, policy_dir: Path) -> list[MissingGrant]:
    """Each (agent, tool) of `team` that the agent declares and no grant gives it."""
    data = load_bundle(policy_dir).data
    where = grants_file(policy_dir)
    missing = []
    for agent in team.agents:
        granted = granted_tools(data, team.name, agent.name)
        for tool in agent.tools:
            if tool not in granted:
                missing.append(MissingGrant(team.name, agent.name, tool, where))
    return missing


def with_grant_hint(decision: Decision, engine: Any, team: str, agent: str, tool: str) -> Decision:
    """A denial of a tool no grant gives the agent, with the grant to add and where (the
    data file of the bundle the engine serves). Other decisions come back as they are."""
    bundle = getattr(engine, "bundle", None)
    if decision.outcome != "deny" or bundle is None:
        return decision
    if tool in granted_tools(bundle.data, team, agent):
        return decision
    missing = MissingGrant(team, agent, tool, grants_file(Path(bundle.root)))
    reasons = [*decision.reasons, f"grant missing: {missing.fix()}"]
    return decision.model_copy(update={"reasons": reasons})


def grants_file(policy_dir: Path) -> Path:
    """The data file that holds `runtime_data.authz.grants` (OPA's loader convention: a
    `data.json` in folder a/b is merged under data.a.b); the root `data.json` if none does."""
    root = policy_dir.resolve()
    for path in policy_files(root):
        if path.name != DATA_FILE:
            continue
        prefix = path.relative_to(root).parent.parts
        depth = min(len(prefix), len(GRANTS))
        if tuple(prefix[:depth]) != GRANTS[:depth]:
            continue
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if len(prefix) >= len(GRANTS) or _at(document, GRANTS[len(prefix) :]) is not None:
            return path
    return root / DATA_FILE


def _at(document: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
