"""What the CLI prints of agent and user content is text, never terminal commands: escape
sequences (line erase, OSC 52 clipboard writes, OSC 8 links), C0/C1 controls and bidi
overrides are stripped, and Rich markup or emoji codes in the content stay as written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_cli_errors import run_cli
from tests.integration.test_exec import add_team

HOSTILE_ANSWER = (
    "Done.\x1b[2K\x1b[1A"  # erase the line, move up
    "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: put `rm -rf ~` on the clipboard
    " see \x1b]8;;https://evil.example/\x1b\\here\x1b]8;;\x1b\\"  # OSC 8 link
    " end\x9b31m red\r [bold]b[/bold] :email:"
)
TERMINAL_COMMANDS = ("\x1b", "\x07", "\x9b", "\r", "\u202e", "\u202c")


def exec_answer(project: Path, answer: str, *args: str) -> tuple[int, str, str]:
    add_team(project, "talker", {"planner": "x"}, {"planner": [{"answer": answer}]})
    done = run_cli(project, "exec", "say it", "--team", "talker", "--engine", "embedded", *args)
    return done.returncode, done.stdout, done.stderr


def test_escapes_in_a_final_answer_are_not_printed(project: Path) -> None:
    code, stdout, stderr = exec_answer(project, HOSTILE_ANSWER)
    assert code == 0, stderr
    for sequence in TERMINAL_COMMANDS:
        assert sequence not in stdout + stderr, repr(sequence)
    assert "Done. see here end red" in stdout
    assert "red [bold]b[/bold] :email:" in stdout


def test_json_output_keeps_the_answer_but_escapes_it(project: Path) -> None:
    code, stdout, _ = exec_answer(project, HOSTILE_ANSWER, "--json")
    assert code == 0
    for sequence in TERMINAL_COMMANDS:
        assert sequence not in stdout, repr(sequence)
    assert json.loads(stdout)["output"] == HOSTILE_ANSWER


def test_redaction_marker_is_not_turned_into_an_emoji(project: Path) -> None:
    code, stdout, stderr = exec_answer(project, "Write to alice@example.com for access.")
    assert code == 6, stderr  # completed_with_blocks: the answer was redacted
    answer = [line for line in stdout.splitlines() if line.startswith("Write to")]
    assert len(answer) == 1, stdout
    assert answer[0].startswith("Write to [REDACTED:email:")
    assert answer[0].endswith("] for access.")
    assert "\N{E-MAIL SYMBOL}" not in stdout


def test_task_text_is_printed_as_text(project: Path) -> None:
    add_team(project, "talker", {"planner": "x"}, {"planner": [{"answer": "ok"}]})
    task = "rank \x1b]52;c;Zm9v\x07regions \u202e:email: [red]now[/red]"
    done = run_cli(project, "exec", task, "--team", "talker", "--engine", "embedded", "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    listed = run_cli(project, "runs", "list")
    shown = run_cli(project, "runs", "show", run_id)
    for done in (listed, shown):
        assert done.returncode == 0, done.stderr
        for sequence in TERMINAL_COMMANDS:
            assert sequence not in done.stdout, repr(sequence)
    assert "rank regions :email: [red]now[/red]" in listed.stdout
