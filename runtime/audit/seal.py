"""What anchors the audit chain outside the database: the key and the signed head.

A chain of plain hashes only proves that rows agree with each other: anyone who can write
the database can truncate it, wipe it, or edit a row and recompute every hash after it.
Two things the database does not hold close those holes:

- the **audit key** (32 random bytes, `<log>.key` beside the log, 0600, created once; or
  `RUNTIME_AUDIT_KEY` for deployments that keep it elsewhere): every row's hash is an
  HMAC-SHA256 under it, so a chain recomputed without the key does not verify;
- the **signed head** (`<log>.head`): the position and hash of the last event, MAC'd with
  the key and replaced after every append. Fewer events than the head names, no events, or
  no table at all is truncation.

The head is written after the event's transaction commits, so a process killed in between
leaves the head one event behind (never ahead); events past the head still verify by their
MACs. Concurrent writers serialise head updates with a `flock` on `<log>.lock` and only
ever move the head forward.

What this does not defend against: someone who can read the key (it lives beside the log
unless `RUNTIME_AUDIT_KEY` is used), or who deletes the key, the head and the log together
(indistinguishable from a fresh state folder).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from runtime.errors import ConfigError
from runtime.locks import FileLock
from runtime.models import Frozen
from runtime.state import private_write

KEY_ENV = "RUNTIME_AUDIT_KEY"
GENESIS = "0" * 64
MIN_ENV_KEY_CHARS = 32


class Head(Frozen):
    """The last event the runtime wrote: its position and hash."""

    seq: int
    hash: str


def key_path(log_path: Path) -> Path:
    return log_path.with_suffix(".key")


def head_path(log_path: Path) -> Path:
    return log_path.with_suffix(".head")


def event_mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def head_mac(key: bytes, seq: int, digest: str) -> str:
    """The MAC a signed head carries (also what an export's head line is checked with)."""
    return event_mac(key, f"audit-head:{seq}:{digest}")


def key_from_env() -> bytes | None:
    """`RUNTIME_AUDIT_KEY`, when set: at least 32 characters, used as is."""
    value = os.environ.get(KEY_ENV)
    if value is None:
        return None
    if len(value) < MIN_ENV_KEY_CHARS:
        raise ConfigError(
            f"{KEY_ENV} is {len(value)} characters; use at least {MIN_ENV_KEY_CHARS} "
            "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return value.encode()


def read_key_file(log_path: Path) -> bytes | None:
    try:
        text = key_path(log_path).read_text().strip()
    except FileNotFoundError:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ConfigError(
            f"audit key {key_path(log_path)} is not 64 hex characters: restore it from a backup"
        )
    return key


def head_claim(log_path: Path) -> int | None:
    """The position the head file names, unchecked (for deciding whether a missing key
    leaves anything to protect); None when there is no readable head."""
    try:
        return int(json.loads(head_path(log_path).read_text())["seq"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_head(log_path: Path, key: bytes) -> Head | None:
    """The signed head; None when there is none. ValueError when its MAC does not match."""
    try:
        document = json.loads(head_path(log_path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"the signed head {head_path(log_path)} is unreadable") from exc
    try:
        head = Head(seq=int(document["seq"]), hash=str(document["hash"]))
        mac = str(document["mac"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the signed head {head_path(log_path)} is malformed") from exc
    if not hmac.compare_digest(mac, head_mac(key, head.seq, head.hash)):
        raise ValueError(
            f"the signed head {head_path(log_path)} does not match the audit key: it was "
            "altered, or the key is not this log's"
        )
    return head


def write_head(log_path: Path, key: bytes, head: Head) -> None:
    document = {"seq": head.seq, "hash": head.hash, "mac": head_mac(key, head.seq, head.hash)}
    private_write(head_path(log_path), json.dumps(document).encode())


@contextlib.contextmanager
def head_lock(log_path: Path) -> Iterator[None]:
    """Serialises head updates (and key creation) across processes and threads."""
    with FileLock(log_path.with_suffix(".lock")).hold(timeout=None):
        yield


def advance_head(log_path: Path, key: bytes, head: Head) -> None:
    """Move the head to `head` unless another writer already moved it further."""
    with head_lock(log_path):
        try:
            current = read_head(log_path, key)
        except ValueError:
            return  # a forged head stays as found, for `verify` to report
        if current is None or head.seq > current.seq:
            write_head(log_path, key, head)


def create_key(log_path: Path) -> bytes:
    """A new key and a genesis head. The head is written first: a crash in between leaves
    a genesis head without a key, which the next start recognises as nothing to protect."""
    key = secrets.token_bytes(32)
    write_head(log_path, key, Head(seq=0, hash=GENESIS))
    private_write(key_path(log_path), key.hex().encode() + b"\n")
    return key
