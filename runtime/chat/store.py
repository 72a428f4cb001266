"""A run's chat state on disk, so a resumed run neither forgets nor pays for a turn twice.

`<run dir>/chat/` (0700) holds, in 0600 files written by rename:

    run.json          the spotlight token and the ledger (usage so far, wall time spent)
    agent-<name>.json that agent's conversation: LangChain messages, queued and awaited calls

Written after every turn. A process that picks the run up (after an approval pause or a
crash) reads them back: the model sees its own tool calls with their arguments, calls it
queued behind a paused one still go out, and a turn the graph asks for again (its node was
replayed from a checkpoint) is answered from the file instead of a new model call. The
files hold what the held store holds (raw arguments, tool results), never a key.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


class ChatStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self, name: str) -> dict[str, Any] | None:
        path = self.root / f"{name}.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return data if isinstance(data, dict) else None

    def save(self, name: str, document: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        target = self.root / f"{name}.json"
        temp = self.root / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o600)
        try:
            data = json.dumps(document).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.rename(temp, target)
