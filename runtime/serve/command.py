"""`runtime serve`: the dashboard on uvicorn, bound to loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable

from runtime.errors import ConfigError
from runtime.settings import Settings


def dashboard_token(settings: Settings) -> tuple[str, bool]:
    """The configured token (runtime.toml `serve_token` or `RUNTIME_SERVE_TOKEN`), or a new
    random one; the flag says whether it was made up here (and so must be shown once)."""
    configured = settings.serve_token.get_secret_value() if settings.serve_token else ""
    if configured:
        if len(configured) < 16:
            raise ConfigError("serve_token must be at least 16 characters long")
        return configured, False
    return secrets.token_urlsafe(24), True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    allow_remote: bool,
    say: Callable[[str], None],
) -> None:
    """Run the dashboard until interrupted."""
    import uvicorn

    from runtime.serve.app import create_app

    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"refusing to serve the dashboard on {host}: it binds to loopback unless you "
            "pass --allow-remote (and put TLS in front of it)"
        )
    token, made_up = dashboard_token(settings)
    app = create_app(settings, token)
    shown = host if ":" not in host else f"[{host}]"
    if made_up:
        say(f"dashboard: http://{shown}:{port}/login?token={token}")
    else:
        say(f"dashboard: http://{shown}:{port}/ (log in at /login?token=<serve_token>)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
