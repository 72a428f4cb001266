"""Who may use the dashboard: one bearer token, the session cookie it buys, CSRF on writes.

The token comes from `serve_token` (runtime.toml or `RUNTIME_SERVE_TOKEN`), or is made up
at start-up and printed once, as Jupyter does. A browser trades it once at `/login` for a
cookie that holds an HMAC of a per-process secret, never the token itself (HttpOnly,
SameSite=Strict). Every write (approve, deny) must carry the CSRF token of the page it came
from, and a browser's write must also come from the dashboard's own origin: ports do not
separate sites, so SameSite alone would let a page on another loopback port post here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

SESSION_COOKIE = "runtime_session"


class DashboardAuth:
    def __init__(self, token: str) -> None:
        if len(token) < 16:
            raise ValueError("the dashboard token must be at least 16 characters")
        self._token = token
        self._secret = secrets.token_bytes(32)

    def _mac(self, purpose: str) -> str:
        return hmac.new(self._secret, purpose.encode(), hashlib.sha256).hexdigest()

    @property
    def session_value(self) -> str:
        return self._mac("session")

    @property
    def csrf_token(self) -> str:
        return self._mac("csrf")

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token.encode())

    def bearer(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    def authenticated(self, request: Request) -> bool:
        if self.bearer(request):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.session_value)

    def write_refusal(self, request: Request, csrf: str) -> str | None:
        """Why a write must be refused, or None. Bearer clients are not browsers: a page on
        another site cannot attach the header, so only the CSRF token is asked of them."""
        if not hmac.compare_digest(csrf.encode(), self.csrf_token.encode()):
            return "the form's CSRF token is missing or wrong: reload the page and try again"
        if self.bearer(request):
            return None
        origin = request.headers.get("origin") or request.headers.get("referer")
        if not origin:
            return "a write from a browser must say where it comes from (Origin)"
        source = urlsplit(origin)
        here = request.url
        if (source.scheme, source.netloc) != (here.scheme, here.netloc):
            return f"cross-site request refused: {source.scheme}://{source.netloc} is not this dashboard"
        return None
