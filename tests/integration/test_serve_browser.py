"""The dashboard end to end in headless Chromium (Debian's package, driven by Playwright):
log in, read a denial on a run's timeline, approve a paused step from the page and see the
run resume and its file commit; no token means 401; a cross-site form post is refused.
Screenshots land in out/test-artifacts/ (or $RUNTIME_TEST_ARTIFACTS)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.audit.store import AuditLog
from runtime.settings import load_settings
from tests.conftest import REPO, missing
from tests.integration.test_approval import approval_project  # noqa: F401  (fixture)
from tests.integration.test_cli_errors import run_cli

pytestmark = [pytest.mark.docker, pytest.mark.opa, pytest.mark.slow]

TOKEN = "browser-token-0123456789abcdef"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("RUNTIME_TEST_ARTIFACTS", REPO / "out" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[object]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        missing("Chromium", "apt-get install chromium (bash scripts/setup.sh does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright", "pip install playwright (in the dev extra)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def dashboard(approval_project: Path, opa_path: Path) -> Iterator[str]:  # noqa: F811
    import uvicorn

    from runtime.serve.app import create_app

    settings = load_settings(
        project_dir=approval_project,
        state_dir=approval_project / ".state",
        opa_binary=str(opa_path),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, TOKEN), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the dashboard did not start within 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def attacker_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Another origin on loopback serving whatever page the test writes."""
    root = tmp_path / "attacker"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def exec_json(project: Path, opa_path: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = run_cli(project, *args, "--json", env={"RUNTIME_OPA_BINARY": str(opa_path)})
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.mark.usefixtures("no_leftover_containers")
def test_dashboard_in_a_real_browser(
    approval_project: Path,  # noqa: F811
    opa_path: Path,
    dashboard: str,
    browser: object,
    attacker_site: tuple[Path, str],
    artifacts: Path,
) -> None:
    code, denied = exec_json(approval_project, opa_path, "exec", "List the root", "--team", "rogue")
    assert code == 3
    code, paused = exec_json(approval_project, opa_path, "exec", "write it", "--team", "careful")
    assert code == 4 and paused["status"] == "awaiting_approval"
    denied_id, paused_id = str(denied["run_id"]), str(paused["run_id"])

    page = browser.new_page()  # type: ignore[attr-defined]
    response = page.goto(f"{dashboard}/")
    assert response.status == 401
    assert "needs its token" in page.content()

    page.goto(f"{dashboard}/login?token={TOKEN}")
    assert page.url == f"{dashboard}/"
    rows = page.locator("tr.run-row")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.run)")) == sorted(
        [denied_id, paused_id]
    )
    page.screenshot(path=str(artifacts / "dashboard-runs.png"), full_page=True)

    page.click(f"a[href='/runs/{denied_id}']")
    step = page.locator("#step-1")
    assert step.locator(".decision").inner_text() == "deny"
    assert "tool python.run is not granted to agent planner" in step.inner_text()
    page.screenshot(path=str(artifacts / "dashboard-denial.png"), full_page=True)

    page.goto(f"{dashboard}/approvals")
    pending = page.locator(f"#pending-{paused_id}")
    assert "coder wants fs.write" in pending.inner_text()
    page.screenshot(path=str(artifacts / "dashboard-approvals.png"), full_page=True)
    pending.locator("button.approve").click()
    page.wait_for_url(f"{dashboard}/runs/{paused_id}")
    page.wait_for_function(
        "() => document.querySelector('#status').textContent === 'completed'", timeout=180_000
    )
    output = Path(str(paused["output_dir"]))
    assert (output / "final.txt").read_text() == "approved text"
    assert "approval: answered by" in page.locator("#step-2").inner_text()
    page.screenshot(path=str(artifacts / "dashboard-approved.png"), full_page=True)

    root, origin = attacker_site
    (root / "index.html").write_text(
        f'<form id="f" method="post" action="{dashboard}/runs/{denied_id}/deny">'
        '<input name="reason" value="pwned"></form><script>f.submit()</script>'
    )
    page.goto(f"{origin}/index.html")
    page.wait_for_url(f"{dashboard}/runs/{denied_id}/deny")
    assert page.locator("body").inner_text().startswith("403: ")
    log = AuditLog(approval_project / ".state" / "audit.db")
    try:
        kinds = [e.kind for e in log.events(denied_id)]
    finally:
        log.close()
    assert "run.resumed" not in kinds, "the cross-site post must not have answered anything"
