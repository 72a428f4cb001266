"""`runtime exec` end to end on the real Docker engine, the real OPA server and real Chroma."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.core import Runtime
from runtime.models import RunResult
from runtime.settings import load_settings

pytestmark = [
    pytest.mark.docker,
    pytest.mark.opa,
    pytest.mark.usefixtures("no_leftover_containers"),
]

PIPELINE_ORDER = ["proposal", "decision", "execution", "verdict", "commit"]


BUILTIN_TOOLS = ["python.run", "fs.read", "fs.write", "memory.put", "memory.search"]


def add_team(
    project: Path,
    name: str,
    agents: dict[str, str],
    script: dict[str, list[Any]],
    tools: dict[str, list[str]] | None = None,
) -> None:
    """Write a team module and its scripted model file into the project's agents/.

    Each agent declares `tools[agent]` (default: every built-in tool); the policy decides
    within that bound."""
    (project / "agents" / "scripts" / f"{name}.json").write_text(json.dumps(script))
    lines = ["from runtime.agents import Agent, Team", ""]
    names = list(agents)
    for agent in names:
        declared = (tools or {}).get(agent, BUILTIN_TOOLS)
        lines.append(
            f"{agent} = Agent(name={agent!r}, instruction={agents[agent]!r}, "
            f"tools={declared!r}, model='scripted:scripts/{name}.json')"
        )
    handoffs = {a: [b for b in names if b != a] for a in names}
    lines.append(
        f"team = Team(name={name!r}, agents=[{', '.join(names)}], entry={names[0]!r}, "
        f"handoffs={handoffs!r})"
    )
    (project / "agents" / f"team_{name.replace('-', '_')}.py").write_text("\n".join(lines) + "\n")


@pytest.fixture
def runtime(project: Path, tmp_path: Path, sandbox_image: str, opa_path: Path) -> Iterator[Runtime]:
    settings = load_settings(
        project_dir=project, state_dir=tmp_path / "state", tenant="acme", opa_binary=str(opa_path)
    )
    with Runtime(settings) as rt:
        yield rt


def events_by_step(rt: Runtime, run_id: str) -> dict[int, list[str]]:
    steps: dict[int, list[str]] = {}
    for event in rt.audit.events(run_id):
        if event.step is not None:
            steps.setdefault(event.step, []).append(event.kind)
    return steps


def test_analyst_team_completes_and_commits_its_files(runtime: Runtime, tmp_path: Path) -> None:
    result = runtime.exec("Rank our sales regions by revenue", "analyst")

    assert result.status == "completed", result.reason
    assert result.output.startswith("Done: report.md ranks the top 3 regions")
    out = Path(result.output_dir or "")
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "totals.csv"]
    assert (out / "totals.csv").read_text().splitlines() == [
        "region,revenue",
        "north,1025",
        "east,635",
        "west,530",
        "south,400",
    ]
    assert "| 1 | north | 1025 |" in (out / "report.md").read_text()
    assert [(s.agent, s.tool) for s in result.steps] == [
        ("planner", "memory.put"),
        ("coder", "python.run"),
        ("coder", "fs.read"),
        ("coder", "fs.write"),
        ("coder", "memory.put"),
        ("planner", "memory.search"),
    ]
    assert all(s.decision == "allow" and s.verdict == "pass" for s in result.steps)
    assert all(s.policy_version.startswith("sha256:") for s in result.steps)
    # Sandbox tools name the real container; host-brokered memory tools name none.
    box_ids = {s.sandbox_id for s in result.steps if s.tool.startswith(("python.", "fs."))}
    assert len(box_ids) == 1
    box_id = box_ids.pop()
    assert box_id is not None and re.fullmatch(r"[0-9a-f]{64}", box_id)
    acquired = [e for e in runtime.audit.events(result.run_id) if e.kind == "sandbox.acquired"]
    assert [e.payload["sandbox_id"] for e in acquired] == [box_id]
    assert acquired[0].payload["image_digest"].startswith("sha256:")
    assert all(s.sandbox_id is None for s in result.steps if s.tool.startswith("memory."))


def test_every_call_is_audited_in_pipeline_order(runtime: Runtime) -> None:
    result = runtime.exec("Rank our sales regions by revenue", "analyst")

    steps = events_by_step(runtime, result.run_id)
    assert sorted(steps) == [1, 2, 3, 4, 5, 6]
    for step, kinds in steps.items():
        assert kinds == PIPELINE_ORDER, f"step {step}: {kinds}"
    decisions = [e for e in runtime.audit.events(result.run_id) if e.kind == "decision"]
    assert all(e.payload["engine"] == "opa-server" for e in decisions)
    assert all(e.payload["decision_id"] for e in decisions)
    assert runtime.audit.verify().ok


def test_files_reach_the_output_folder_only_on_commit(runtime: Runtime, tmp_path: Path) -> None:
    """Drive the pipeline stage by stage: after execute the file exists only in the box."""
    from runtime.models import ToolCall
    from runtime.pipeline import RunContext
    from runtime.tools import ToolContext

    team, _ = runtime.load_team("analyst")
    out = tmp_path / "out"
    out.mkdir()
    pipeline = runtime.pipeline()
    run = RunContext(run_id="stagedrun01", task="t", team=team, tenant="acme", output_dir=out)
    call = ToolCall(
        run_id=run.run_id,
        step=1,
        agent="coder",
        tool="fs.write",
        args={"path": "notes/a.txt", "content": "hello"},
        call_id="c1",
    )
    try:
        pipeline.propose(run, call)
        assert pipeline.authorize(run, call, {}).outcome == "allow"
        ctx = ToolContext(
            run_id=run.run_id,
            agent="coder",
            tenant="acme",
            sandbox=lambda: pipeline.sandbox_for(run),
            memory_search=lambda *_: [],
            input_files=frozenset(),
            call_timeout_s=10,
        )
        staged = pipeline.execute(run, call, ctx)
        assert [(c.path, c.change, c.kind) for c in staged.changes.changes] == [
            ("notes", "added", "dir"),
            ("notes/a.txt", "added", "file"),
        ]
        assert list(out.rglob("*")) == []
        assert run.sandbox is not None and run.sandbox.read_file("notes/a.txt") == b"hello"

        verdict = pipeline.check(run, call, staged)
        assert verdict.verdict == "pass"
        assert list(out.rglob("*")) == []

        pipeline.commit(run, call, staged)
        assert (out / "notes" / "a.txt").read_text() == "hello"
    finally:
        pipeline.discard_sandbox(run)
    kinds = [e.kind for e in runtime.audit.events(run.run_id) if e.step == 1]
    assert kinds == ["proposal", "decision", "execution", "verdict", "commit"]


def test_denied_call_never_reaches_the_sandbox(runtime: Runtime, project: Path) -> None:
    add_team(
        project,
        "deny-trace",
        {"coder": "writes", "planner": "plans"},
        {
            "coder": [
                {"tool": "python.run", "args": {"code": "print('box is up')"}},
                {"handoff": "planner"},
                {
                    "tool": "python.run",
                    "args": {"code": "import os; print(sorted(os.listdir('.')))"},
                },
                {"answer": "checked"},
            ],
            "planner": [
                {
                    "tool": "python.run",
                    "args": {
                        "code": "open('pwned', 'w').write('x')\nimport subprocess\nsubprocess.Popen(['sleep', '300'])"
                    },
                },
                {"tool": "fs.write", "args": {"path": "pwned2", "content": "x"}},
                {"handoff": "coder"},
            ],
        },
    )
    result = runtime.exec("try it", "deny-trace")

    assert result.status == "completed_with_blocks", result.reason  # after two denials
    assert [(s.agent, s.tool, s.decision) for s in result.steps] == [
        ("coder", "python.run", "allow"),
        ("planner", "python.run", "deny"),
        ("planner", "fs.write", "deny"),
        ("coder", "python.run", "allow"),
    ]
    denied = [s for s in result.steps if s.decision == "deny"]
    assert all(s.sandbox_id is None for s in denied)
    grants = runtime.settings.resolved_policy_dir / "data.json"
    assert denied[0].reasons == [
        "tool python.run is not granted to agent planner",
        'grant missing: add "python.run" to runtime_data.authz.grants.agents.planner.tools in '
        f"{grants} (or to runtime_data.authz.grants.teams.deny-trace.agents.planner.tools "
        "for team deny-trace only)",
    ]
    steps = events_by_step(runtime, result.run_id)
    assert steps[2] == ["proposal", "decision"] and steps[3] == ["proposal", "decision"]
    # The coder's listing, run after the denials, shows the workspace untouched.
    listing = [
        e.payload
        for e in runtime.audit.events(result.run_id)
        if e.kind == "execution" and e.step == 4
    ]
    assert listing and listing[0]["changes"] == []
    assert not any(Path(result.output_dir or "").iterdir())


def test_denied_first_call_starts_no_sandbox(runtime: Runtime) -> None:
    result = runtime.exec("List the root folder", "rogue")

    assert result.status == "blocked"
    grants = runtime.settings.resolved_policy_dir / "data.json"
    assert result.reason == (
        "planner's call to python.run was denied: tool python.run is not granted to agent "
        'planner; grant missing: add "python.run" to runtime_data.authz.grants.agents.planner.'
        f"tools in {grants} (or to runtime_data.authz.grants.teams.rogue.agents.planner.tools "
        "for team rogue only)"
    )
    # The refusal names what the agent may do instead (from rego/authz_alternatives.rego).
    assert len(result.alternatives) == 1
    assert result.alternatives[0].startswith("use a tool granted to agent planner instead: ")
    assert "fs.read" in result.alternatives[0] and "python.run" not in result.alternatives[0]
    kinds = [e.kind for e in runtime.audit.events(result.run_id)]
    assert "sandbox.acquired" not in kinds and "execution" not in kinds


def test_memory_of_one_agent_is_invisible_to_another(runtime: Runtime, project: Path) -> None:
    add_team(
        project,
        "memory-wall",
        {"planner": "remembers", "coder": "searches"},
        {
            "planner": [
                {"tool": "memory.put", "args": {"text": "The launch code word is bluebird."}},
                {"handoff": "coder"},
            ],
            "coder": [
                {"tool": "memory.search", "args": {"query": "The launch code word is bluebird."}},
                {
                    "tool": "memory.search",
                    "args": {"query": "launch code", "namespace": "acme/planner"},
                },
                {"answer": "nothing found"},
            ],
        },
    )
    result = runtime.exec("remember and look", "memory-wall")

    assert result.status == "completed_with_blocks", result.reason  # the search was denied
    own_search, cross_search = result.steps[1], result.steps[2]
    assert own_search.decision == "allow"
    assert cross_search.decision == "deny"
    memory = runtime.memory()
    assert memory.search("acme/coder", "The launch code word is bluebird.") == []
    hits = memory.search("acme/planner", "launch code")
    assert [h.text for h in hits] == ["The launch code word is bluebird."]
    assert hits[0].provenance.writer_agent == "planner"
    assert hits[0].provenance.run_id == result.run_id
    tool_messages = [
        e.payload
        for e in runtime.audit.events(result.run_id)
        if e.kind == "execution" and e.step == 2
    ]
    assert tool_messages[0]["sandbox_id"] is None


def test_run_result_json_has_the_documented_shape(runtime: Runtime) -> None:
    result = runtime.exec("Rank our sales regions by revenue", "analyst")
    doc = json.loads(result.model_dump_json())
    assert {"run_id", "status", "output", "steps"} <= set(doc)
    assert set(doc["steps"][0]) >= {
        "agent",
        "tool",
        "decision",
        "reasons",
        "verdict",
        "sandbox_id",
        "duration_ms",
    }
    assert RunResult.model_validate(doc) == result
