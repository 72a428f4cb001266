"""The dashboard over HTTP: every request needs the token, writes need CSRF and the
dashboard's own origin, pages show what the audit holds, and /metrics parses."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runtime.serve.app import create_app
from runtime.settings import load_settings
from tests.integration.test_cli_errors import run_cli

pytestmark = [
    pytest.mark.docker,
    pytest.mark.opa,
    pytest.mark.usefixtures("no_leftover_containers"),
]

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def ran(project: Path, opa_path: Path, sandbox_image: str) -> tuple[Path, str]:
    """A project with one denied run (the rogue team's first call)."""
    done = run_cli(
        project,
        "exec",
        "List the root",
        "--team",
        "rogue",
        "--json",
        env={"RUNTIME_OPA_BINARY": str(opa_path)},
    )
    assert done.returncode == 3, done.stderr
    return project, json.loads(done.stdout)["run_id"]


@pytest.fixture
def client(ran: tuple[Path, str], opa_path: Path) -> Iterator[TestClient]:
    project, _ = ran
    settings = load_settings(
        project_dir=project, state_dir=project / ".state", opa_binary=str(opa_path)
    )
    with TestClient(create_app(settings, TOKEN), base_url="http://127.0.0.1:8765") as c:
        yield c


def login(client: TestClient) -> None:
    response = client.get(f"/login?token={TOKEN}", follow_redirects=False)
    assert response.status_code == 303
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=strict" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    "path", ["/", "/approvals", "/policy", "/charts", "/metrics", "/api/runs/x"]
)
def test_every_page_needs_the_token(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.text.startswith("401: this dashboard needs its token")


def test_a_wrong_token_buys_no_session(client: TestClient) -> None:
    response = client.get("/login?token=not-the-token", follow_redirects=False)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert client.get("/").status_code == 401


def test_bearer_token_works_without_a_cookie(client: TestClient) -> None:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_runs_list_and_timeline_show_the_denial(client: TestClient, ran: tuple[Path, str]) -> None:
    _, run_id = ran
    login(client)
    runs = client.get("/").text
    assert f'data-run="{run_id}"' in runs and "blocked" in runs
    timeline = client.get(f"/runs/{run_id}").text
    assert "tool python.run is not granted to agent planner" in timeline
    assert 'class="decision deny"' in timeline
    state = client.get(f"/api/runs/{run_id}").json()
    assert state["status"] == "blocked"
    assert [(s["tool"], s["decision"]) for s in state["steps"]] == [("python.run", "deny")]
    filtered = client.get("/?status=completed").text
    assert f'data-run="{run_id}"' not in filtered


def test_writes_without_the_csrf_token_are_refused(
    client: TestClient, ran: tuple[Path, str]
) -> None:
    _, run_id = ran
    login(client)
    response = client.post(
        f"/runs/{run_id}/deny",
        data={"reason": "no"},
        headers={"Origin": "http://127.0.0.1:8765"},
    )
    assert response.status_code == 403
    assert response.text == (
        "403: the form's CSRF token is missing or wrong: reload the page and try again"
    )


def test_writes_from_another_origin_are_refused_even_with_the_token(
    client: TestClient, ran: tuple[Path, str]
) -> None:
    _, run_id = ran
    login(client)
    token = client.app.state.board.auth.csrf_token  # type: ignore[attr-defined]
    response = client.post(
        f"/runs/{run_id}/approve",
        data={"csrf": token},
        headers={"Origin": "http://127.0.0.1:9999"},
    )
    assert response.status_code == 403
    assert response.text == (
        "403: cross-site request refused: http://127.0.0.1:9999 is not this dashboard"
    )


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'runtime_decisions_total{decision="deny"} 1' in text
    assert "runtime_denials_total 1" in text
    assert "runtime_approvals_pending 0" in text
    assert 'runtime_runs{status="blocked"} 1' in text
    assert re.search(r'^runtime_decision_latency_seconds_bucket\{le="\+Inf"\} 1$', text, re.M)
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r"[a-z_]+(\{[^}]*\})? [0-9.e+-]+", line), line
