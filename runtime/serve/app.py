"""The dashboard's routes: pages rendered on the server, one small polling script, no build.

Every request must be authenticated (401 otherwise, `/login` aside); every write must pass
the CSRF and origin checks (403 otherwise). An approval or denial starts `Runtime.resume`
in a worker thread, so the page returns at once and the run's timeline fills in as the
resumed run appends to the audit log.
"""

from __future__ import annotations

import getpass
import threading
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from runtime.audit.store import AuditLog
from runtime.errors import AgentRuntimeError
from runtime.record import shown_args
from runtime.runs import run_status
from runtime.safety.checker import default_checker
from runtime.serve import charts, metrics
from runtime.serve.auth import SESSION_COOKIE, DashboardAuth
from runtime.serve.records import latency_points, run_summaries, summarize, timeline
from runtime.settings import Settings

OPEN_PATHS = frozenset({"/login"})


class _RequireToken(BaseHTTPMiddleware):
    def __init__(self, app: Any, auth: DashboardAuth) -> None:
        super().__init__(app)
        self._auth = auth

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path not in OPEN_PATHS and not self._auth.authenticated(request):
            return PlainTextResponse(
                "401: this dashboard needs its token: open /login?token=... or send "
                "`Authorization: Bearer <token>`",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        )
        return response


class Dashboard:
    """State shared by the routes: settings, the audit log, the auth, answers in flight."""

    def __init__(self, settings: Settings, auth: DashboardAuth) -> None:
        self.settings = settings
        self.state_dir = settings.resolved_state_dir
        self.auth = auth
        self.audit = AuditLog(self.state_dir / "audit.db")
        self.templates = Environment(
            loader=PackageLoader("runtime.serve", "templates"),
            autoescape=select_autoescape(["html"]),
        )
        self.answers: dict[str, str] = {}
        self._lock = threading.Lock()

    def page(self, name: str, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(csrf=self.auth.csrf_token, **context)
        return HTMLResponse(html)

    def pending(self) -> list[dict[str, Any]]:
        from runtime.core import Runtime

        with Runtime(self.settings) as rt:
            waiting = rt.pending()
        # Arguments as the run record keeps them: redacted by the safety detectors, capped.
        checker = default_checker()
        return [{**item, "args": shown_args(checker, item.get("args", {}))} for item in waiting]

    def answer(self, run_id: str, *, approved: bool, reason: str, by: str) -> None:
        """Resume the run in a worker thread; the outcome is kept for the run's page."""
        with self._lock:
            if self.answers.get(run_id) == "resuming":
                raise HTTPException(409, f"run {run_id} is already being resumed")
            self.answers[run_id] = "resuming"

        def work() -> None:
            from runtime.core import Runtime

            try:
                with Runtime(self.settings) as rt:
                    result = rt.resume(run_id, approved=approved, by=by, reason=reason)
                outcome = f"resumed: {result.status}"
            except AgentRuntimeError as exc:
                outcome = f"not resumed: {exc}"
            with self._lock:
                self.answers[run_id] = outcome

        threading.Thread(target=work, name=f"answer-{run_id}", daemon=True).start()


def create_app(settings: Settings, token: str) -> FastAPI:
    board = Dashboard(settings, DashboardAuth(token))
    app = FastAPI(title="agent-runtime", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_RequireToken, auth=board.auth)
    app.state.board = board

    @app.get("/login")
    def login(token: str = "") -> Response:
        if not board.auth.token_matches(token):
            return PlainTextResponse("401: wrong or missing token", status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE, board.auth.session_value, httponly=True, samesite="strict"
        )
        return response

    @app.get("/", response_class=HTMLResponse)
    def runs_page(status: str = "", team: str = "", since: str = "") -> HTMLResponse:
        since_at = _since(since)
        runs = run_summaries(
            board.audit, board.state_dir, status=status or None, team=team or None, since=since_at
        )
        return board.page(
            "runs.html", runs=runs, status=status, team=team, since=since, title="Runs"
        )

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str) -> HTMLResponse:
        events = board.audit.events(run_id)
        if not events or run_id.startswith("@"):
            raise HTTPException(404, f"no run {run_id}")
        status = run_status(events, board.state_dir, run_id)
        return board.page(
            "run.html",
            run=summarize(run_id, events, status),
            steps=timeline(events),
            end=next((e.payload for e in reversed(events) if e.kind == "run.end"), None),
            events=len(events),
            answer=board.answers.get(run_id),
            title=f"Run {run_id}",
        )

    @app.get("/api/runs/{run_id}")
    def run_state(run_id: str) -> JSONResponse:
        events = board.audit.events(run_id)
        if not events:
            raise HTTPException(404, f"no run {run_id}")
        return JSONResponse(
            {
                "run_id": run_id,
                "events": len(events),
                "status": run_status(events, board.state_dir, run_id),
                "answer": board.answers.get(run_id),
                "steps": [step.model_dump() for step in timeline(events)],
            }
        )

    @app.get("/approvals", response_class=HTMLResponse)
    def approvals_page() -> HTMLResponse:
        return board.page("approvals.html", pending=board.pending(), title="Pending approvals")

    @app.post("/runs/{run_id}/approve")
    def approve(
        request: Request, run_id: str, csrf: str = Form(""), reason: str = Form("")
    ) -> Response:
        return _answer(request, run_id, approved=True, csrf=csrf, reason=reason)

    @app.post("/runs/{run_id}/deny")
    def deny(
        request: Request, run_id: str, csrf: str = Form(""), reason: str = Form("")
    ) -> Response:
        if not reason.strip():
            raise HTTPException(400, "a denial needs a reason; it is recorded in the audit")
        return _answer(request, run_id, approved=False, csrf=csrf, reason=reason)

    def _answer(
        request: Request, run_id: str, *, approved: bool, csrf: str, reason: str
    ) -> Response:
        refusal = board.auth.write_refusal(request, csrf)
        if refusal:
            return PlainTextResponse(f"403: {refusal}", status_code=403)
        board.answer(
            run_id, approved=approved, reason=reason, by=f"{getpass.getuser()} (dashboard)"
        )
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    @app.get("/policy", response_class=HTMLResponse)
    def policy_page() -> HTMLResponse:
        events = [e for e in board.audit.events("@policy")]
        return board.page("policy.html", events=list(reversed(events)), title="Policy versions")

    @app.get("/charts", response_class=HTMLResponse)
    def charts_page() -> HTMLResponse:
        series = latency_points(board.audit)
        svgs = [
            charts.line_chart("decision latency", "ms", series["decision_ms"]),
            charts.line_chart("tool-call latency", "ms", series["tool_ms"]),
            charts.line_chart("denials", "per call", series["denials"]),
            charts.line_chart("findings", "per verdict", series["findings"]),
        ]
        return board.page("charts.html", svgs=svgs, title="Charts")

    @app.get("/metrics")
    def metrics_page() -> PlainTextResponse:
        statuses = [s.status for s in run_summaries(board.audit, board.state_dir)]
        text = metrics.render(board.audit, statuses.count("awaiting_approval"), statuses)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    return app


def _since(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise HTTPException(400, f"since must be an ISO date or time, not {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
