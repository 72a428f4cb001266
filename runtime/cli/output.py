"""What the CLI prints: terminal-safe text, the one result printer, JSON.

Agent and user content (answers, reasons, arguments, file names, task text) can hold
terminal escapes: a line erase, an OSC 52 clipboard write, an OSC 8 link, a bidi override.
`clean` strips escape sequences and C0/C1 controls (tab and newline stay) before anything
reaches the terminal, and every print of such content goes out with markup and emoji
codes off, so `[REDACTED:email:...]` stays text instead of turning into a mail emoji.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(soft_wrap=True, emoji=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)

_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: cursor moves, line erase, colours
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC: titles, OSC 8 links, OSC 52
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC strings
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # 8-bit string controls
    r"|\x1b[ -/]*[0-~]?"  # any other escape (charset switches, RIS, ...)
)
# C0 but tab and newline, DEL, C1, and the bidi embeddings, overrides and isolates.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What `--json` must not carry raw either: json escapes C0 already, not C1 or bidi.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def clean(text: object) -> str:
    """`text` without escape sequences or control characters; `\\r\\n` becomes `\\n`."""
    value = str(text).replace("\r\n", "\n")
    return _CONTROLS.sub("", _SEQUENCES.sub("", value))


def safe(text: object) -> str:
    """`clean(text)` with Rich markup escaped, for content inside a markup string."""
    return escape(clean(text))


def say(text: object, *, stderr: bool = False) -> None:
    """Print agent or user content as plain text: no markup, no emoji codes, no escapes."""
    (err if stderr else out).print(clean(text), markup=False, emoji=False, highlight=False)


def print_json(document: Any) -> None:
    """One JSON document on stdout; characters a terminal would act on stay \\u-escaped."""
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    print(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def print_progress(step: Any) -> None:
    """Live progress on an interactive terminal; pipes get only the final result."""
    verdict = f" / {clean(step.verdict)}" if step.verdict else ""
    err.print(
        f"[dim]#{step.step} {safe(step.agent)} {safe(step.tool)}: {safe(step.decision)}"
        f"{escape(verdict)} ({step.duration_ms:.0f} ms)[/dim]"
    )


def print_turn(turn: Any) -> None:
    """A chat model's call, shown on the terminal as it returns: agent, tokens, latency."""
    err.print(
        f"[dim]  {safe(turn.agent)} model {safe(turn.provider)}:{safe(turn.model)}: "
        f"{turn.tokens_in} tokens in, {turn.tokens_out} out ({turn.latency_ms:.0f} ms)[/dim]"
    )


class Progress:
    """The progress printer `exec`, `approve`, `deny` and `runs resume` hand the run as its
    `on_step`: each tool step, and (through `on_turn`) each model call, on stderr."""

    def __call__(self, step: Any) -> None:
        print_progress(step)

    def on_turn(self, turn: Any) -> None:
        print_turn(turn)


def print_run(result: Any) -> None:
    """The one result printer (exec, approve, deny, runs resume): steps, then the outcome."""
    table = Table(title=f"run {clean(result.run_id)}", show_lines=False)
    for column in ("#", "agent", "tool", "decision", "verdict", "sandbox", "ms"):
        table.add_column(column)
    for step in result.steps:
        table.add_row(
            str(step.step),
            safe(step.agent),
            safe(step.tool),
            safe(step.decision),
            safe(step.verdict or "-"),
            safe((step.sandbox_id or "-")[:12]),
            f"{step.duration_ms:.1f}",
        )
    out.print(table)
    usage = getattr(result, "usage", None)
    if usage is not None and usage.model_calls:
        out.print(
            f"model calls: {usage.model_calls}; tokens: {usage.input_tokens} in, "
            f"{usage.output_tokens} out"
        )
    if result.status == "completed":
        say(result.output)
        out.print(f"[green]completed[/green]; committed files in {safe(result.output_dir)}")
        return
    if result.status == "completed_with_blocks":
        say(result.output)
        marks = [
            f"refused or blocked: step {', '.join(map(str, result.blocked_steps))}"
            * bool(result.blocked_steps),
            f"redacted: step {', '.join(map(str, result.redacted_steps))}"
            * bool(result.redacted_steps),
        ]
        out.print(
            f"[yellow]completed with blocks[/yellow] ({safe('; '.join(m for m in marks if m))}); "
            f"committed files in {safe(result.output_dir)}"
        )
        return
    say(f"{result.status}: {result.reason}", stderr=True)
    for alternative in result.alternatives:
        say(f"safe alternative: {alternative}", stderr=True)
