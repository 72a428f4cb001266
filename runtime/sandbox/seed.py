"""Seeding a new box: the run's inputs, and on resume what the run itself committed.

Owns: what a freshly acquired box is given before the agent's first call in it. A run's
output folder may be an existing folder the user named with `--output`, holding files that
were never the run's (`host_secret.env`): a resumed or approved run's new box gets only the
paths the run committed (the caller lists them from the audit's commit events) that are
still regular files there, plus its inputs. Every file is read without following a symlink,
at any depth, so a link planted in either folder cannot pull a host file into the box.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from runtime.sandbox.base import Sandbox
from runtime.sandbox.names import path_problem
from runtime.sandbox.output import read_regular_file


def seed_box(
    sandbox: Sandbox,
    *,
    inputs_dir: Path | None,
    input_files: Iterable[str],
    output_dir: Path,
    committed: Iterable[str] = (),
) -> list[str]:
    """Write the inputs, then the still-present committed files, into the box's workspace.

    Returns the workspace paths written, in order. A committed path that was deleted since
    (or is no longer a regular file) is skipped; nothing else of the output folder is read.
    """
    seeded: list[str] = []
    sources: list[tuple[Path, str]] = []
    if inputs_dir is not None:
        sources += [(inputs_dir, path) for path in sorted(set(input_files))]
    sources += [(output_dir, path) for path in sorted(set(committed))]
    for folder, path in sources:
        if path_problem(path) is not None:
            continue
        data = read_regular_file(folder, path)
        if data is None:
            continue
        sandbox.write_file(path, data)
        seeded.append(path)
    return seeded


__all__ = ["seed_box"]
