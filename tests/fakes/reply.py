"""Replies in each provider's wire format: a plain answer, tool calls, an error status.

Tool-call arguments are a dict (encoded as the provider does) or, for OpenAI, a raw string
so a test can send arguments that are not JSON at all.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import Dialect, Reply

Call = tuple[str, dict[str, Any] | str]


def text(dialect: Dialect, content: str, *, tokens: tuple[int, int] = (11, 7)) -> Reply:
    return _message(dialect, content, [], tokens)


def tool_calls(
    dialect: Dialect, calls: list[Call], *, content: str = "", tokens: tuple[int, int] = (13, 5)
) -> Reply:
    return _message(dialect, content, calls, tokens)


def error(dialect: Dialect, status: int, *, retry_after_ms: int | None = 10) -> Reply:
    """An error status; `retry-after-ms` keeps the SDKs' backoff short in tests."""
    headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}
    if dialect == "anthropic":
        kind = "rate_limit_error" if status == 429 else "api_error"
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": "fake"}}
    elif dialect == "ollama":
        body = {"error": f"fake error {status}"}
    else:
        body = {"error": {"message": f"fake error {status}", "type": "server_error"}}
    return Reply(body, status=status, headers=headers)


def slow(reply: Reply, delay_s: float) -> Reply:
    return Reply(reply.body, status=reply.status, headers=reply.headers, delay_s=delay_s)


def _message(dialect: Dialect, content: str, calls: list[Call], tokens: tuple[int, int]) -> Reply:
    if dialect == "openai":
        return Reply(_openai(content, calls, tokens))
    if dialect == "anthropic":
        return Reply(_anthropic(content, calls, tokens))
    return Reply(_ollama(content, calls, tokens))


def _openai(content: str, calls: list[Call], tokens: tuple[int, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
            for i, (name, args) in enumerate(calls)
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": sum(tokens),
        },
    }


def _anthropic(content: str, calls: list[Call], tokens: tuple[int, int]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
    blocks += [
        {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
        for i, (name, args) in enumerate(calls)
    ]
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "fake-model",
        "content": blocks,
        "stop_reason": "tool_use" if calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
    }


def _ollama(content: str, calls: list[Call], tokens: tuple[int, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"function": {"name": name, "arguments": args}} for name, args in calls
        ]
    return {
        "model": "fake-model",
        "created_at": "2026-01-01T00:00:00Z",
        "message": message,
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": tokens[0],
        "eval_count": tokens[1],
        "total_duration": 1000,
    }
