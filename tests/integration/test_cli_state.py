"""The state folder through the real CLI: private after a run, never created by a command
that only reads, and a run stopped by Ctrl-C or SIGTERM left `interrupted` and resumable."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_cli_errors import one_line, run_cli
from tests.integration.test_exec import add_team


@pytest.mark.opa
@pytest.mark.docker
@pytest.mark.usefixtures("no_leftover_containers")
def test_state_is_private_after_a_run(project: Path, opa_path: Path, sandbox_image: str) -> None:
    """The analyst run writes the audit log, checkpoints, memories, staged and committed
    files: every file under the state folder is 0600 or tighter, every folder 0700."""
    done = run_cli(
        project,
        "exec",
        "rank regions",
        "--team",
        "analyst",
        env={"RUNTIME_OPA_BINARY": str(opa_path)},
    )
    assert done.returncode == 0, done.stderr
    state = project / ".state"
    loose = {}
    for path in [state, *state.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if (mode != 0o700) if path.is_dir() else (mode & 0o077 != 0):
            loose[str(path.relative_to(project))] = oct(mode)
    assert loose == {}
    names = {p.name for p in state.iterdir()}
    assert {"audit.db", "audit.key", "audit.head", "checkpoints.db", "memory", "runs"} <= names


@pytest.mark.parametrize(
    "command",
    [
        ["runs", "list"],
        ["runs", "list", "--json"],
        ["runs", "show", "abc"],
        ["runs", "pending"],
        ["audit", "verify"],
        ["policy", "history"],
    ],
)
def test_reading_commands_create_no_state(tmp_path: Path, command: list[str]) -> None:
    done = run_cli(tmp_path, *command)
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_runs_list_outside_a_project_says_so(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "runs", "list")
    assert (done.returncode, done.stdout) == (
        0,
        f"{tmp_path} is not a project (no agents/ or runtime.toml) and has no runs; pass "
        "--project or cd into one\n",
    )


@pytest.mark.opa
def test_runs_list_json_and_filters(project: Path, opa_path: Path) -> None:
    env = {"RUNTIME_OPA_BINARY": str(opa_path)}
    add_team(project, "talker", {"planner": "x"}, {"planner": [{"answer": "ok"}]})
    assert run_cli(project, "exec", "hi", "--team", "talker", env=env).returncode == 0
    assert run_cli(project, "exec", "look", "--team", "rogue", env=env).returncode == 3
    rows = json.loads(run_cli(project, "runs", "list", "--json").stdout)
    assert [
        {k: row[k] for k in ("team", "status", "steps", "denials", "findings", "task")}
        for row in rows
    ] == [
        {
            "team": "talker",
            "status": "completed",
            "steps": 0,
            "denials": 0,
            "findings": 0,
            "task": "hi",
        },
        {
            "team": "rogue",
            "status": "blocked",
            "steps": 1,
            "denials": 1,
            "findings": 0,
            "task": "look",
        },
    ]
    assert all(row["duration_s"] >= 0 and row["started"].endswith("+00:00") for row in rows)
    blocked = json.loads(run_cli(project, "runs", "list", "--json", "--status", "blocked").stdout)
    assert [row["id"] for row in blocked] == [rows[1]["id"]]
    assert json.loads(run_cli(project, "runs", "list", "--json", "--since", "1h").stdout) == rows
    text = run_cli(project, "runs", "list").stdout.splitlines()
    assert text[0].split() == [
        "RUN",
        "TEAM",
        "STATUS",
        "STARTED",
        "(UTC)",
        "TOOK",
        "STEPS",
        "DENIED",
        "FINDINGS",
        "TASK",
    ]
    assert len(text) == 3
    late = run_cli(project, "runs", "list", "--since", "soon")
    assert late.returncode == 2
    assert one_line(late.stderr) == (
        "error: --since 'soon' is neither a duration (30m, 2h, 7d) nor an ISO date "
        "(2026-01-31 or 2026-01-31T09:00)"
    )


def test_doctor_reports_a_team_whose_script_is_broken(project: Path) -> None:
    add_team(project, "talker", {"planner": "x"}, {"planner": [{"answer": "ok"}]})
    (project / "agents" / "scripts" / "talker.json").write_text('{"planner": [')
    done = run_cli(project, "doctor")
    assert done.returncode == 5
    lines = done.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if "team talker" in line)
    script = project / "agents" / "scripts" / "talker.json"
    assert lines[index].startswith(
        f"missing  team talker: agent planner's model 'scripted:scripts/talker.json' does not "
        f"load: scripted model file {script} is not valid JSON: "
    )
    assert lines[index + 1] == (
        f"         fix: fix the model of planner in {project / 'agents' / 'team_talker.py'}, "
        "or the file it names"
    )
    assert any(line.startswith("present  team analyst: planner, coder") for line in lines)


def _last_kind(database: Path) -> tuple[str, str] | None:
    try:
        with sqlite3.connect(database) as db:
            row = db.execute("SELECT run_id, kind FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    return (str(row[0]), str(row[1])) if row else None


@pytest.mark.opa
@pytest.mark.docker
@pytest.mark.usefixtures("no_leftover_containers")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopped_run_is_interrupted_and_resumes(
    project: Path, opa_path: Path, sandbox_image: str, signum: int
) -> None:
    env = {
        **os.environ,
        "RUNTIME_STATE_DIR": str(project / ".state"),
        "RUNTIME_OPA_BINARY": str(opa_path),
    }
    code = "import time\ntime.sleep(4)\nprint('slept')"
    script = {"coder": [{"tool": "python.run", "args": {"code": code}}, {"answer": "woke"}]}
    add_team(project, "sleeper", {"coder": "x"}, script)
    driver = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "exec", "nap", "--team", "sleeper"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    last = None
    while time.monotonic() < deadline and driver.poll() is None:
        last = _last_kind(project / ".state" / "audit.db")
        if last and last[1] == "sandbox.acquired":
            break
        time.sleep(0.1)
    assert last and last[1] == "sandbox.acquired", driver.communicate()
    time.sleep(1)  # inside the call
    driver.send_signal(signum)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130
    assert one_line(stderr) == (
        "interrupted: the run is left `interrupted`; `runtime runs resume RUN` continues it"
    )
    run_id = last[0]
    [row] = json.loads(run_cli(project, "runs", "list", "--json").stdout)
    assert (row["id"], row["status"]) == (run_id, "interrupted")
    kinds = [
        e["kind"]
        for e in json.loads(run_cli(project, "runs", "show", run_id, "--json").stdout)["events"]
    ]
    assert kinds[-2:] == ["run.interrupted", "sandbox.released"]
    assert "run.end" not in kinds
    resumed = run_cli(
        project, "runs", "resume", run_id, "--json", env={"RUNTIME_OPA_BINARY": str(opa_path)}
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["output"] == "woke"
    assert run_cli(project, "audit", "verify").returncode == 0


def test_doctor_without_opa_names_the_embedded_engine(project: Path, tmp_path: Path) -> None:
    """No OPA binary anywhere: doctor says so and names the engine that needs none; with
    policy_engine = "embedded" the missing binary is not a problem at all (issue 13)."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = run_cli(project, "doctor", env=env)
    lines = done.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("missing  opa:"))
    assert lines[index + 1].endswith(
        'or set policy_engine = "embedded" in runtime.toml (needs no OPA binary)'
    )
    embedded = run_cli(project, "doctor", env={**env, "RUNTIME_POLICY_ENGINE": "embedded"})
    assert "present  opa: not needed: policy_engine = embedded" in embedded.stdout.splitlines()
