"""The run's label store: which values were seen in trusted and in untrusted content.

Every value that enters a run is indexed under its canonical key (see `tokens`) with the
label of where it came from. The store is plain JSON (`to_state` / `from_state`) so it can
live in the checkpointed graph state, and it is bounded:

- **Deduplicated.** One entry per distinct key, one int packing its label flags and up
  to `MAX_SOURCES_PER_ENTRY` source ids; a value seen a thousand times costs one entry.
- **Keyed hashes, not values.** An entry's key is a keyed BLAKE2b digest (64 bits, key
  random per run), so the state never holds a secret from the user's data and its size
  does not depend on how long the values are.
- **Capped, failing safe.** At `cap` entries the oldest *trusted-only* entries go first
  (forgetting that a value was trusted can only cost an approval). When only entries with
  an untrusted label are left, the oldest of those go and the store is marked
  `overflowed`: from then on a value found nowhere is `unknown`, never "the model's own",
  and the policy treats `unknown` like `untrusted`. An evicted untrusted value can
  therefore never come back as trusted or as unlabelled.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime.provenance.normalize import fold_unicode, normalise_value, url_key, words
from runtime.provenance.tokens import SHINGLE, text_tokens

__all__ = [
    "DEFAULT_CAP",
    "TASK",
    "TRUSTED",
    "UNTRUSTED",
    "Hit",
    "LabelStore",
    "field_trust",
]

DEFAULT_CAP = 20_000
SHINGLE_SAMPLE = 4  # keep one prose shingle in this many (of a long text)
# A text with at most this many shingles keeps them all: sampling is for bounding long pages,
# and sampling a short text could leave no shingle of a copied sentence in the store.
FULL_SHINGLES = 256
MAX_SOURCES = 256
MAX_SOURCES_PER_ENTRY = 4
STATE_VERSION = 2
OTHER_SOURCE = "(other sources)"

# Label flags, or-ed into an entry.
TRUSTED = 1
UNTRUSTED = 2
TASK = 4  # the user said it in this run's task: what a destructive sink may require

_TRUST_FLAGS = {"trusted": TRUSTED, "untrusted": UNTRUSTED}


@dataclass(frozen=True)
class Hit:
    """What the store knows of one key."""

    flags: int
    sources: tuple[str, ...]

    @property
    def trusted(self) -> bool:
        return bool(self.flags & TRUSTED)

    @property
    def untrusted(self) -> bool:
        return bool(self.flags & UNTRUSTED)

    @property
    def task(self) -> bool:
        return bool(self.flags & TASK)


def field_trust(trust_map: Mapping[str, str], path: str) -> str:
    """The trust of one field of a structured result under a per-field trust map.

    Keys are dotted paths (`sender.iban`); list items share their list's path. The most
    specific key that is the path or one of its parents wins, then `*`, then `untrusted`.
    """
    parts = path.split(".") if path else []
    for end in range(len(parts), 0, -1):
        label = trust_map.get(".".join(parts[:end]))
        if label is not None:
            return label
    return trust_map.get("*", "untrusted")


class LabelStore:
    """Labels of the distinct values a run has seen; JSON in, JSON out."""

    def __init__(self, *, cap: int = DEFAULT_CAP, salt: str | None = None) -> None:
        if cap < 16:
            raise ValueError(f"label store cap {cap} is too small: use at least 16 entries")
        self.cap = cap
        self.salt = salt or secrets.token_hex(16)
        self.overflowed = False
        self.box_tainted = False
        self.sources: list[str] = []
        self.entries: dict[str, int] = {}  # digest -> flags and source ids, packed
        self._key = bytes.fromhex(self.salt)

    @classmethod
    def for_run(
        cls, task: str, trusted_data: Mapping[str, Any] | None = None, *, cap: int = DEFAULT_CAP
    ) -> LabelStore:
        """A run's store at its start: the task and the principal's data, both trusted."""
        store = cls(cap=cap)
        store.add_task(task)
        if trusted_data:
            store.add_trusted_data(trusted_data)
        return store

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        """The whole store as JSON-ready data (what the checkpointed graph state holds)."""
        return {
            "v": STATE_VERSION,
            "cap": self.cap,
            "salt": self.salt,
            "overflowed": self.overflowed,
            "box_tainted": self.box_tainted,
            "sources": list(self.sources),
            # Values are ints, so a shallow copy is a snapshot: about 1 ms at the cap.
            "entries": dict(self.entries),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LabelStore:
        """Rebuild a store from `to_state` output; a damaged state is refused, never guessed."""
        try:
            if state["v"] != STATE_VERSION:
                raise ValueError(f"version {state['v']!r}")
            store = cls(cap=int(state["cap"]), salt=str(state["salt"]))
            store.overflowed = bool(state["overflowed"])
            store.box_tainted = bool(state["box_tainted"])
            store.sources = [str(source) for source in state["sources"]]
            entries = state["entries"]
            if not all(type(v) is int and 0 <= v < _PACKED_LIMIT for v in entries.values()):
                raise ValueError("an entry is not a packed label")
            store.entries = dict(entries)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"label store state is damaged ({exc}): start the run again from its task"
            ) from exc
        return store

    def __len__(self) -> int:
        return len(self.entries)

    # ------------------------------------------------------------------ adding

    def add_task(self, task: str) -> None:
        """The task text is the user speaking: trusted, and marked as the task's own words."""
        self.add_text(task, "trusted", "task", in_task=True)

    def add_trusted_data(self, data: Mapping[str, Any]) -> None:
        """The principal's configured data (identity, contacts, accounts): trusted."""
        for section, value in data.items():
            self.add_value(value, "trusted", f"trusted_data.{section}")

    def add_tool_output(self, source: str, result: Any, trust: str | Mapping[str, str]) -> None:
        """A tool's result under its declared output trust: one label, or one per field."""
        if isinstance(trust, str):
            self.add_value(result, trust, source)
        else:
            self._add_fields(result, trust, source, "")

    def add_memory_recall(self, source: str, records: Iterable[tuple[str, str]]) -> None:
        """Recalled memories keep the label they were written with: (text, trust) pairs."""
        for text, trust in records:
            self.add_text(text, trust, source)

    def mark_box_tainted(self) -> None:
        """The run's box has taken in untrusted content (an input file, an untrusted argument).

        Box-level taint: from now on everything the box computes is untrusted, for the
        rest of the run (the box keeps what it read).
        """
        self.box_tainted = True

    def add_sandbox_output(
        self, source: str, result: Any, *, box_tainted: bool | None = None
    ) -> None:
        """A sandboxed tool's result: untrusted once the box has seen untrusted content."""
        if box_tainted:
            self.mark_box_tainted()
        self.add_value(result, "untrusted" if self.box_tainted else "trusted", source)

    def add_value(self, value: Any, trust: str, source: str, *, in_task: bool = False) -> None:
        """Index a structured value: each leaf whole, and each string leaf as free text."""
        if isinstance(value, Mapping):
            for key, item in value.items():
                # A key can be data too ({url: page}, {file name: size}): labelled alike.
                self.add_value(str(key), trust, source, in_task=in_task)
                self.add_value(item, trust, source, in_task=in_task)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                self.add_value(item, trust, source, in_task=in_task)
        elif isinstance(value, str):
            self.add_text(value, trust, source, in_task=in_task)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int | float):
            self._add_keys({normalise_value(repr(value))}, trust, source, in_task)
        else:
            self.add_text(str(value), trust, source, in_task=in_task)

    def add_text(self, text: str, trust: str, source: str, *, in_task: bool = False) -> None:
        """Index one free text: the whole (short) text, its typed tokens and word n-grams."""
        tokens = text_tokens(text)
        keys = {token.key for token in tokens if token.kind != SHINGLE}
        keys.update(value_keys(text))
        self._add_keys(keys, trust, source, in_task)
        shingles = {token.key for token in tokens if token.kind == SHINGLE} - keys
        if len(shingles) > FULL_SHINGLES:
            shingles = {key for key in shingles if self.sampled(key)}
        self._add_keys(shingles, trust, source, in_task)

    def _add_fields(self, value: Any, trust_map: Mapping[str, str], source: str, path: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                self.add_value(str(key), field_trust(trust_map, child), source)
                self._add_fields(item, trust_map, source, child)
        elif isinstance(value, list | tuple):
            for item in value:
                self._add_fields(item, trust_map, source, path)
        else:
            self.add_value(value, field_trust(trust_map, path), source)

    def _add_keys(self, keys: Iterable[str], trust: str, source: str, in_task: bool) -> None:
        if trust not in _TRUST_FLAGS:
            raise ValueError(f"trust must be 'trusted' or 'untrusted', not {trust!r}")
        flags = _TRUST_FLAGS[trust] | (TASK if in_task and trust == "trusted" else 0)
        source_id = self._source_id(source)
        for key in keys:
            if not key:
                continue
            digest = self._digest(key)
            packed = self.entries.get(digest)
            if packed is None:
                self.entries[digest] = _pack(flags, (source_id,))
                continue
            old_flags, ids = _unpack(packed)
            if source_id not in ids and len(ids) < MAX_SOURCES_PER_ENTRY:
                ids = (*ids, source_id)
            self.entries[digest] = _pack(old_flags | flags, ids)
        if len(self.entries) > self.cap:
            self._evict()

    def _source_id(self, source: str) -> int:
        if source in self.sources:
            return self.sources.index(source)
        if len(self.sources) >= MAX_SOURCES:
            if OTHER_SOURCE not in self.sources:
                self.sources[-1] = OTHER_SOURCE
            return self.sources.index(OTHER_SOURCE)
        self.sources.append(source)
        return len(self.sources) - 1

    def sampled(self, key: str) -> bool:
        """Whether a prose shingle is one of the quarter the store keeps (chosen by content)."""
        return int(self._digest(key)[:4], 16) % SHINGLE_SAMPLE == 0

    def _digest(self, key: str) -> str:
        return hashlib.blake2b(key.encode(), key=self._key, digest_size=8).hexdigest()

    def _evict(self) -> None:
        excess = len(self.entries) - self.cap
        # Trusted-only entries first, oldest first: forgetting them only costs approvals.
        for digest in [d for d, packed in self.entries.items() if not packed & UNTRUSTED]:
            if excess <= 0:
                return
            del self.entries[digest]
            excess -= 1
        # Only untrusted labels left: drop the oldest and stop treating misses as the model's.
        for digest in list(self.entries)[:excess]:
            del self.entries[digest]
        self.overflowed = True

    # ------------------------------------------------------------------ lookup

    def lookup(self, key: str) -> Hit:
        """What the store holds for one canonical key (flags 0: seen nowhere)."""
        packed = self.entries.get(self._digest(key)) if key else None
        if packed is None:
            return Hit(0, ())
        flags, ids = _unpack(packed)
        return Hit(flags, tuple(self.sources[i] for i in ids if i < len(self.sources)))


# An entry packs its flags (3 bits) and up to four source ids (9 bits each, id + 1, 0 for
# an empty slot) into one int: immutable, so the state is a shallow copy, and small in JSON.
_FLAG_BITS = 3
_ID_BITS = 9
_PACKED_LIMIT = 1 << (_FLAG_BITS + _ID_BITS * MAX_SOURCES_PER_ENTRY)


def _pack(flags: int, ids: tuple[int, ...]) -> int:
    packed = flags
    for slot, source_id in enumerate(ids):
        packed |= (source_id + 1) << (_FLAG_BITS + _ID_BITS * slot)
    return packed


def _unpack(packed: int) -> tuple[int, tuple[int, ...]]:
    ids = []
    for slot in range(MAX_SOURCES_PER_ENTRY):
        stored = (packed >> (_FLAG_BITS + _ID_BITS * slot)) & ((1 << _ID_BITS) - 1)
        if stored:
            ids.append(stored - 1)
    return packed & ((1 << _FLAG_BITS) - 1), tuple(ids)


def value_keys(value: str) -> set[str]:
    """The keys one whole value may be indexed under: as a value, and as its words."""
    keys = {normalise_value(value)}
    place = url_key(fold_unicode(value))
    if place:
        keys.add(place)
    joined = " ".join(words(fold_unicode(value)))
    if joined:
        keys.add(joined)
    return {key for key in keys if key}
