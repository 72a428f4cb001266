"""Chat-model runs through the wired graph: model turns in the audit, budgets that end a run
with `budget_exceeded`, and an approval pause that a new process resumes without asking
the model again for calls it had already made (real OPA, Docker, loopback OpenAI server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.core import Runtime
from runtime.settings import Settings, load_settings
from tests.fakes import FakeProvider, reply

pytestmark = [
    pytest.mark.docker,
    pytest.mark.opa,
    pytest.mark.usefixtures("no_leftover_containers"),
]

KEY = "sk-runs-0f1e2d3c4b5a-NEVER-WRITTEN"


BudgetSettings = Settings  # the budget fields are Settings' own (`budget_run_*`, ...)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    with FakeProvider("openai") as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def chat_project(project: Path, sandbox_image: str) -> Path:
    data_path = project / "rego" / "data.json"
    data = json.loads(data_path.read_text())
    data["runtime_data"]["authz"]["approval"]["tools"] = ["fs.write"]
    data_path.write_text(json.dumps(data))
    (project / "agents" / "team_writer.py").write_text(
        "from runtime.agents import Agent, Team\n"
        "coder = Agent(name='coder', instruction='Write the files asked for.',\n"
        "              tools=['fs.write', 'fs.read', 'python.run'], model='openai:fake-model')\n"
        "writer = Team(name='writer', agents=[coder], entry='coder')\n"
    )
    return project


def open_runtime(project: Path, state: Path, opa_path: Path, **extra: Any) -> Runtime:
    if extra:
        settings: Settings = BudgetSettings(
            project_dir=project, state_dir=state, opa_binary=str(opa_path), **extra
        )
    else:
        settings = load_settings(project_dir=project, state_dir=state, opa_binary=str(opa_path))
    return Runtime(settings)


def test_model_turns_are_audited_with_tokens_and_prompt_version(
    chat_project: Path, tmp_path: Path, opa_path: Path, fake: FakeProvider
) -> None:
    fake.script(
        reply.tool_calls("openai", [("python__run", {"code": "print(1)"})], tokens=(40, 9)),
        reply.text("openai", "printed", tokens=(55, 3)),
    )
    with open_runtime(chat_project, tmp_path / "state", opa_path) as rt:
        result = rt.exec("print one", "writer")
        turns = [e.payload for e in rt.audit.events(result.run_id) if e.kind == "model.turn"]

    assert result.status == "completed", result.reason
    assert [(t["agent"], t["tokens_in"], t["tokens_out"], t["tool_calls"]) for t in turns] == [
        ("coder", 40, 9, ["python__run"]),
        ("coder", 55, 3, []),
    ]
    assert {(t["provider"], t["model"]) for t in turns} == {("openai", "fake-model")}
    assert len({t["system_prompt_sha256"] for t in turns}) == 1


def test_a_run_over_its_token_budget_ends_budget_exceeded_and_commits_nothing_after(
    chat_project: Path, tmp_path: Path, opa_path: Path, fake: FakeProvider
) -> None:
    fake.script(
        reply.tool_calls(
            "openai", [("python__run", {"code": "open('a.txt','w').write('a')"})], tokens=(10, 60)
        ),
        reply.tool_calls(
            "openai", [("python__run", {"code": "open('b.txt','w').write('b')"})], tokens=(10, 60)
        ),
    )
    with open_runtime(
        chat_project, tmp_path / "state", opa_path, budget_run_output_tokens=100
    ) as rt:
        result = rt.exec("write two files", "writer")

    assert result.status == "budget_exceeded"
    assert result.reason == "the run's budget of 100 output tokens is spent (120 used)"
    assert [s.tool for s in result.steps] == ["python.run"]
    assert sorted(p.name for p in Path(result.output_dir or "").iterdir()) == ["a.txt"]


def test_an_approved_pause_resumes_the_models_queued_call_without_asking_it_again(
    chat_project: Path, tmp_path: Path, opa_path: Path, fake: FakeProvider
) -> None:
    fake.script(
        reply.tool_calls(
            "openai",
            [
                ("fs__write", {"path": "final.txt", "content": "approved text"}),
                ("fs__read", {"path": "final.txt"}),
            ],
        ),
        reply.text("openai", "final.txt written and checked"),
    )
    state = tmp_path / "state"
    with open_runtime(chat_project, state, opa_path) as rt:
        paused = rt.exec("write final.txt", "writer")
    assert paused.status == "awaiting_approval", paused.reason
    assert len(fake.chat_requests) == 1

    with open_runtime(chat_project, state, opa_path) as rt:  # another process, in effect
        done = rt.resume(paused.run_id, approved=True, by="alice")

    assert done.status == "completed", done.reason
    assert done.output == "final.txt written and checked"
    assert [(s.tool, s.decision) for s in done.steps] == [
        ("fs.write", "require_approval"),
        ("fs.read", "allow"),
    ]
    assert len(fake.chat_requests) == 2
    last = fake.chat_requests[1].json["messages"]
    calls = last[2]["tool_calls"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"path": "final.txt", "content": "approved text"},
        {"path": "final.txt"},
    ]
    assert [m["tool_call_id"] for m in last if m["role"] == "tool"] == ["call_0", "call_1"]
    files = [p for p in state.rglob("*") if p.is_file()]
    assert [p for p in files if KEY.encode() in p.read_bytes()] == []
