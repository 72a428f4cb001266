"""Content a run's graph state refers to by hash, kept out of its checkpoints.

A checkpoint is written after every graph node and outlives the run, so it must never hold
what the safety check may still refuse: a tool call's raw arguments (a private key being
written), a memory write's text, an unchecked final answer. Those live here, one file per
piece under `<state_dir>/runs/<run_id>/held/` (0600 files in a 0700 folder), named by their
sha256; the state keeps only the hash and reads the content back only when it still hashes
to it. A piece is dropped as soon as its call has left the pipeline, so blocked content is
gone from disk once it is blocked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from runtime.errors import SandboxError
from runtime.state import private_write

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class HeldContentMissing(SandboxError):
    """A piece of held content is gone or no longer matches its hash."""


class HeldStore:
    """Per-run private content, addressed by sha256."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes) -> str:
        """Keep `data`; returns its sha256 (the reference the graph state holds)."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.root / digest
        if target.is_file():
            return digest
        # No fsync (3 ms a call here): like the staging area, this guards against the
        # process dying, and the kernel keeps written pages across that.
        private_write(target, data, fsync=False)
        return digest

    def get(self, digest: str) -> bytes:
        """The content held under `digest`, verified; a clear error when it is gone."""
        if not _DIGEST.match(digest):
            raise HeldContentMissing(f"malformed held-content reference {digest!r}")
        try:
            data = (self.root / digest).read_bytes()
        except FileNotFoundError as exc:
            raise HeldContentMissing(
                f"held content {digest[:12]} of this run is gone from {self.root}; "
                "the call cannot continue"
            ) from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise HeldContentMissing(
                f"held content {digest[:12]} in {self.root} was changed on disk; refused"
            )
        return data

    def put_json(self, value: Any) -> str:
        return self.put(canonical_json(value))

    def get_json(self, digest: str) -> Any:
        return json.loads(self.get(digest))

    def put_text(self, text: str) -> str:
        return self.put(text.encode("utf-8", errors="surrogatepass"))

    def get_text(self, digest: str) -> str:
        return self.get(digest).decode("utf-8", errors="surrogatepass")

    def drop(self, *digests: str | None) -> None:
        for digest in digests:
            if digest and _DIGEST.match(digest):
                with contextlib.suppress(FileNotFoundError):
                    (self.root / digest).unlink()

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def canonical_json(value: Any) -> bytes:
    """One byte form per JSON value, so equal arguments hash equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", errors="surrogatepass"
    )
