"""`runtime init DIR`: a working project in one command.

Writes `agents/` with a team, `tools/` with one custom tool, `rego/` with the built-in
policy library plus the grants for that team and a `_test.rego` for them, `runtime.toml`,
the Python API example (`example.py`, the one in docs/python-api.md) and a pytest file that
runs the team. The team's tools are host-side, so `runtime exec` works in it straight away,
with no Docker engine; the policy engine is the embedded one, so no OPA binary is needed.
Never overwrites: an existing file stops the command before anything is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Final

from runtime.errors import ConfigError

TEAM: Final = "hello"
AGENT: Final = "assistant"
EXAMPLE_AGENT: Final = "counter"

RUNTIME_TOML: Final = """\
# Settings for this project (runtime.toml < RUNTIME_* environment < command-line flags).
# `runtime settings` prints them all; docs/settings.md explains each.

# "embedded" evaluates rego/ in-process (no OPA binary needed); "opa" runs an OPA server.
policy_engine = "embedded"
tenant = "default"
"""

TOOL_MODULE: Final = '''"""This project's own tools. Each @tool declares what it does (effect), where it runs
and how far its output can be trusted; rego/data.json grants it to agents."""

import re

from runtime import tool


@tool(effect="read", trust="trusted")
def slugify(title: str) -> str:
    """Turn a title into a lower-case, dash-separated file name."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
'''

TEAM_MODULE: Final = f'''"""The `{TEAM}` team: one agent that uses this project's own tool."""

from runtime import Agent, Team

{AGENT} = Agent(
    name="{AGENT}",
    instruction="Suggest a file name for the title you are given.",
    tools=["slugify"],
    # A scripted model replays agents/scripts/{AGENT}.json; swap in a chat model later.
    model="scripted:scripts/{AGENT}.json",
)

team = Team(name="{TEAM}", agents=[{AGENT}], entry="{AGENT}")
'''

TEAM_SCRIPT: Final = {
    AGENT: [
        {"tool": "slugify", "args": {"title": "Quarterly Report: Q3 2026"}},
        {"answer": "Use quarterly-report-q3-2026.md"},
    ]
}

# The Python API example (docs/python-api.md runs exactly this text in its test).
EXAMPLE: Final = f'''from runtime import Agent, Runtime, Team, tool

@tool(effect="read", trust="trusted")
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())

{EXAMPLE_AGENT} = Agent(name="{EXAMPLE_AGENT}", instruction="Count words.", tools=["word_count"],
                model="scripted:scripts/{EXAMPLE_AGENT}.json")
team = Team(name="words", agents=[{EXAMPLE_AGENT}], entry="{EXAMPLE_AGENT}")

with Runtime.open(".", tools=[word_count]) as rt:
    result = rt.exec("How many words are in 'to be or not to be'?", team=team)
print(result.status, result.output)
'''

EXAMPLE_SCRIPT: Final = {
    EXAMPLE_AGENT: [
        {"tool": "word_count", "args": {"text": "to be or not to be"}},
        {"answer": "6 words"},
    ]
}

POLICY_TEST: Final = f"""package project_test

import data.runtime.authz

call(agent, tool, effect, args) := {{
\t"schema_version": "1",
\t"subject": {{"agent": agent, "team": "{TEAM}", "roles": [], "tenant": "default"}},
\t"action": {{"tool": tool, "effect": effect, "args": args}},
\t"provenance": {{"args": {{}}, "untrusted_sources_seen": []}},
\t"context": {{"run_id": "r1", "step": 1, "task": "t", "calls_so_far": {{}}}},
\t"risk": {{"score": 0.0}},
}}

test_{AGENT}_may_use_its_tool if {{
\tauthz.decision.allow with input as call("{AGENT}", "slugify", "read", {{"title": "A b"}})
}}

test_{AGENT}_may_not_run_code if {{
\tnot authz.decision.allow with input as call("{AGENT}", "python.run", "exec", {{"code": "1"}})
}}

test_{EXAMPLE_AGENT}_may_count_words if {{
\tauthz.decision.allow with input as call("{EXAMPLE_AGENT}", "word_count", "read", {{"text": "a"}})
}}
"""

PYTEST_FILE: Final = f'''"""Runs the `{TEAM}` team end to end: `pytest tests/`."""

from pathlib import Path

from runtime import Runtime

PROJECT = Path(__file__).resolve().parent.parent


def test_{TEAM}_team_answers(tmp_path: Path) -> None:
    with Runtime.open(PROJECT, state_dir=tmp_path / "state") as rt:
        result = rt.exec("Suggest a file name for: Quarterly Report: Q3 2026", team="{TEAM}")
    assert result.status == "completed", result.reason
    assert result.output == "Use quarterly-report-q3-2026.md"
    assert [(s.tool, s.decision) for s in result.steps] == [("slugify", "allow")]
'''

GITIGNORE: Final = ".runtime/\n__pycache__/\n"


def builtin_policy_dir() -> Path:
    """The built-in policy library shipped with the runtime."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "policy" / "library", package.parent / "rego"):
        if candidate.is_dir() and any(candidate.rglob("*.rego")):
            return candidate
    raise ConfigError(
        "the built-in policy library was not found next to the runtime package; "
        "reinstall agent-runtime"
    )


def project_files() -> dict[str, str]:
    """Every file `runtime init` writes except the copied policy library, by path."""
    return {
        "runtime.toml": RUNTIME_TOML,
        ".gitignore": GITIGNORE,
        "tools/text.py": TOOL_MODULE,
        f"agents/{TEAM}.py": TEAM_MODULE,
        f"agents/scripts/{AGENT}.json": json.dumps(TEAM_SCRIPT, indent=2) + "\n",
        "example.py": EXAMPLE,
        f"scripts/{EXAMPLE_AGENT}.json": json.dumps(EXAMPLE_SCRIPT, indent=2) + "\n",
        "rego/project_test.rego": POLICY_TEST,
        f"tests/test_{TEAM}.py": PYTEST_FILE,
    }


def init_project(target: Path) -> list[Path]:
    """Write a new project into `target` (created if missing); returns the files written."""
    target = target.resolve()
    files = project_files()
    library = builtin_policy_dir()
    policies = {
        f"rego/{p.relative_to(library).as_posix()}": p
        for p in sorted(library.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    clashes = sorted(name for name in [*files, *policies] if (target / name).exists())
    if clashes:
        raise ConfigError(
            f"{target} already has {clashes[0]}; runtime init writes only into a new or "
            "empty folder"
        )
    written: list[Path] = []
    for name, source in policies.items():
        written.append(_copy(source, target / name))
    _grant(target / "rego", {AGENT: ["slugify"], EXAMPLE_AGENT: ["word_count"]})
    for name, text in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _copy(source: Path, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    return destination


def _grant(rego: Path, grants: dict[str, list[str]]) -> None:
    """Add the new agents' grants to the library's authz data (its other grants stay, so
    the library's own tests keep passing)."""
    for path in sorted(rego.rglob("*.json")):
        data = json.loads(path.read_text())
        authz = data.get("runtime_data", {}).get("authz")
        if isinstance(authz, dict) and "grants" in authz:
            for agent, tools in grants.items():
                authz["grants"].setdefault("agents", {})[agent] = {"tools": tools}
            path.write_text(json.dumps(data, indent=2) + "\n")
            return
    raise ConfigError(f"no authz grants found in {rego}; the policy library looks incomplete")
