"""`runtime init DIR` writes a project that works straight away, checked through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNTIME = [sys.executable, "-m", "runtime.cli"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("init")
    done = run([*RUNTIME, "init", "demo"], root)
    assert done.returncode == 0, done.stderr
    project = root / "demo"
    # The count follows the shipped policy library, which grows; it must be what was written.
    written = sum(1 for p in project.rglob("*") if p.is_file())
    assert done.stdout.startswith(f"wrote {written} files into demo; try: cd demo && runtime exec")
    return project


def test_init_writes_the_project_layout(demo: Path) -> None:
    files = sorted(p.relative_to(demo).as_posix() for p in demo.rglob("*") if p.is_file())
    assert {
        ".gitignore",
        "agents/hello.py",
        "agents/scripts/assistant.json",
        "example.py",
        "rego/data.json",
        "rego/project_test.rego",
        "runtime.toml",
        "scripts/counter.json",
        "tests/test_hello.py",
        "tools/text.py",
    } <= set(files)
    assert any(name.endswith("_test.rego") and name != "rego/project_test.rego" for name in files)
    grants = json.loads((demo / "rego" / "data.json").read_text())["runtime_data"]["authz"]
    assert grants["grants"]["agents"]["assistant"] == {"tools": ["slugify"]}
    assert grants["grants"]["agents"]["counter"] == {"tools": ["word_count"]}


def test_runtime_exec_works_in_it_straight_away_without_docker(demo: Path) -> None:
    done = run(
        [
            *RUNTIME,
            "exec",
            "Suggest a file name for: Quarterly Report",
            "--team",
            "hello",
            "--json",
        ],
        demo,
        DOCKER_HOST="unix:///nonexistent.sock",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["output"]) == ("completed", "Use quarterly-report-q3-2026.md")
    assert [(s["tool"], s["decision"], s["verdict"]) for s in result["steps"]] == [
        ("slugify", "allow", "pass")
    ]


def test_its_policy_tests_pass(demo: Path) -> None:
    done = run([*RUNTIME, "policy", "test"], demo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASS: ")


def test_its_pytest_file_runs_the_team(demo: Path) -> None:
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], demo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_its_python_example_runs(demo: Path) -> None:
    done = run([sys.executable, "example.py"], demo)
    assert (done.returncode, done.stdout) == (0, "completed 6 words\n"), done.stderr


def test_init_never_overwrites_a_project(demo: Path) -> None:
    before = (demo / "runtime.toml").read_text()
    done = run([*RUNTIME, "init", str(demo)], demo.parent)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {demo} already has .gitignore; runtime init writes only into a new or "
        "empty folder\n"
    )
    assert (demo / "runtime.toml").read_text() == before
