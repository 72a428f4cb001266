"""Retries with backoff on 429, 5xx, timeouts and dropped connections; one clear failure.

The openai and anthropic clients retry by themselves (`max_retries`, exponential backoff,
Retry-After honoured); the adapter adds its own loop only for clients without one. After
the last try the error is a `ModelCallFailed` that says what happened in words: the
provider's own message is left out because some echo a part of the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from runtime.chat.errors import ModelCallFailed

T = TypeVar("T")

_PROVIDER_MODULES = ("openai", "anthropic", "ollama", "httpx", "httpcore", "langchain")
_MAX_SLEEP_S = 30.0


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    retries: int,
    builtin_tries: int = 1,
    backoff_s: float = 0.5,
) -> T:
    """`call()`, tried `retries + 1` times on a transient failure. `builtin_tries` is how
    many tries the client itself made per call, so the final message counts them all."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not _from_provider(exc):
                raise
            tries = (attempt + 1) * builtin_tries
            if not is_transient(exc):
                raise ModelCallFailed(
                    f"model {what} refused the request ({describe(exc)}): check the model "
                    "name, the key and the provider's limits"
                ) from exc
            if attempt >= retries:
                raise ModelCallFailed(
                    f"model {what} failed after {tries} {'try' if tries == 1 else 'tries'} "
                    f"({describe(exc)}): check the provider, or raise its timeout or retries"
                ) from exc
            time.sleep(min(backoff_s * 2**attempt, _MAX_SLEEP_S))
            attempt += 1


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    status = status_of(exc)
    if status is not None:
        return status == 429 or status >= 500
    name = type(exc).__name__
    return "Timeout" in name or "Connect" in name or "RemoteProtocol" in name


def describe(exc: BaseException) -> str:
    status = status_of(exc)
    name = type(exc).__name__
    if status == 429:
        return f"HTTP 429, rate limited ({name})"
    if status is not None:
        return f"HTTP {status} ({name})"
    if "Timeout" in name:
        return f"no answer within the timeout ({name})"
    if "Connect" in name:
        return f"the connection failed ({name})"
    return name


def _from_provider(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(_PROVIDER_MODULES) or status_of(exc) is not None
