"""Argument provenance and the sink rule.

`argument_provenance(store, args, sinks, effect)` labels each argument of one proposed
call, and each typed token inside a string argument, from the run's `LabelStore`:

- `trusted`: the value (as a whole) was seen in trusted content: the task, the
  principal's own data, a trusted tool output or field. A value seen in *both* trusted and
  untrusted content is trusted: the user typed it, or it is in their contacts.
- `untrusted`: the value, or a place-naming token inside it (an address, URL, domain,
  IBAN, account or phone number), or a run of words of it, was seen only in untrusted
  content.
- `model`: seen nowhere; the model produced it.
- `unknown`: seen nowhere, but the store has had to forget untrusted labels (see
  `store`); treated as untrusted.

Sinks are the arguments where a value decides *where* something goes or what is done:
`recipient`, `account`, `url`, `password`, `share_target`, `amount`, `path`, `target`;
and `links`, free text (a message body) judged only by the links, domains and addresses in
it.
`judge` refuses (`untrusted_sink`) a call whose sink value is `untrusted` or `unknown`,
and a sink declared `origin: task` (a destructive target: what to delete, cancel or remove)
whose value the task text does not name: the user's contacts and files are trusted, but
an injection naming one of them as a *target* must not be enough to destroy it.
Untrusted content in any other argument (an e-mail body, a note) is no reason to refuse:
the safety node checks what leaves. An `egress` call's URL is a `url` sink whether or not
the tool declared it; a link followed exactly as some content wrote it is allowed (it
carries nothing out), one the model built on an untrusted destination is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.provenance.normalize import fold_unicode, normalise_value
from runtime.provenance.schema import ProvenanceV2
from runtime.provenance.store import LabelStore, value_keys
from runtime.provenance.tokens import MAX_NGRAM, STRONG_KINDS, segments, value_tokens

__all__ = [
    "SINK_KINDS",
    "ArgProvenance",
    "ArgTrust",
    "CallProvenance",
    "SinkDecision",
    "SinkSpec",
    "argument_provenance",
    "judge",
    "parse_sinks",
]

ArgTrust = Literal["trusted", "untrusted", "model", "unknown"]
SINK_KINDS = frozenset(
    {"recipient", "account", "url", "password", "share_target", "amount", "path", "target", "links"}
)
# A `links` sink is free text (a message body, a post) judged only by the places it names:
# a link, domain or address from untrusted content is a phishing or exfiltration channel,
# while quoting untrusted prose is not. Those are the kinds it looks at.
_LINK_KINDS = frozenset({"url", "domain", "email"})
_EGRESS_URL_ARGS = ("url", "uri", "href", "endpoint", "link")
# Worst first: a list argument is as trusted as its least trusted element.
_ORDER: dict[str, int] = {"untrusted": 0, "unknown": 1, "model": 2, "trusted": 3}


@dataclass(frozen=True)
class SinkSpec:
    """One sensitive argument: what kind of sink, and whether only the task may name it."""

    kind: str
    origin: Literal["any", "task"] = "any"


def parse_sinks(declared: Mapping[str, Any]) -> dict[str, SinkSpec]:
    """`{"to": "recipient", "path": {"kind": "path", "origin": "task"}}` -> SinkSpecs."""
    sinks: dict[str, SinkSpec] = {}
    for arg, spec in declared.items():
        if isinstance(spec, str):
            kind, origin = spec, "any"
        else:
            kind, origin = spec.get("kind"), spec.get("origin", "any")
        if kind not in SINK_KINDS:
            known = ", ".join(sorted(SINK_KINDS))
            raise ValueError(f"sink {arg!r} has kind {kind!r}: use one of {known}")
        if origin == "task":
            sinks[arg] = SinkSpec(kind=kind, origin="task")
        elif origin == "any":
            sinks[arg] = SinkSpec(kind=kind)
        else:
            raise ValueError(f"sink {arg!r} has origin {origin!r}: use 'any' or 'task'")
    return sinks


@dataclass
class ArgProvenance:
    trust: ArgTrust
    sources: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)
    sink: str | None = None
    origin: str = "any"  # "task": only a value the task text names may fill this sink
    task: bool = False  # the value is named in the task text

    def to_json(self) -> dict[str, Any]:
        return {
            "trust": self.trust,
            "sources": sorted(self.sources),
            "via": sorted(self.via),
            "sink": self.sink,
            "origin": self.origin,
            "task": self.task,
        }


@dataclass
class CallProvenance:
    """Provenance of one call's arguments, in the policy's schema-2 and legacy shapes."""

    args: dict[str, ArgProvenance]
    overflowed: bool = False
    effect: str | None = None

    def to_policy(self) -> dict[str, dict[str, Any]]:
        """`provenance.args` of policy input schema 2: `{name: {trust, sources, via, sink}}`."""
        return {name: arg.to_json() for name, arg in sorted(self.args.items())}

    def to_model(self, untrusted_sources_seen: Iterable[str] = ()) -> ProvenanceV2:
        """The whole `input.provenance` of schema 2, the legacy shape included."""
        return ProvenanceV2.model_validate(
            {
                "args": self.to_policy(),
                "legacy_args": self.legacy(),
                "untrusted_sources_seen": sorted(set(untrusted_sources_seen)),
                "overflowed": self.overflowed,
            }
        )

    def legacy(self) -> dict[str, str]:
        """The schema-1 shape `{name: "trusted" | "untrusted"}`; unknown counts as untrusted."""
        return {
            name: "untrusted" if arg.trust in ("untrusted", "unknown") else "trusted"
            for name, arg in sorted(self.args.items())
        }


@dataclass(frozen=True)
class SinkDecision:
    outcome: Literal["allow", "untrusted_sink"]
    args: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


def _label_string(store: LabelStore, value: str, sink: SinkSpec | None) -> ArgProvenance:
    found = [store.lookup(key) for key in value_keys(value)]
    sources = sorted({s for hit in found for s in hit.sources})
    in_task = any(hit.task for hit in found)
    if any(hit.trusted for hit in found):
        return ArgProvenance("trusted", sources, ["value"], task=in_task)
    if any(hit.untrusted for hit in found):
        return ArgProvenance("untrusted", sources, ["value"])
    untrusted_via: set[str] = set()
    untrusted_sources: set[str] = set()
    trusted_sources: set[str] = set()
    amount = sink is not None and sink.kind == "amount"
    for token in value_tokens(value):
        if token.kind not in STRONG_KINDS and not (amount and token.kind == "number"):
            continue
        hit = store.lookup(token.key)
        if hit.untrusted and not hit.trusted:
            untrusted_via.add(token.kind)
            untrusted_sources.update(hit.sources)
        elif hit.trusted:
            trusted_sources.update(hit.sources)
    untrusted_via.update(_copied_text(store, value, untrusted_sources))
    if untrusted_via:
        return ArgProvenance("untrusted", sorted(untrusted_sources), sorted(untrusted_via))
    trust: ArgTrust = "unknown" if store.overflowed else "model"
    return ArgProvenance(trust, sorted(trusted_sources), ["tokens"] if trusted_sources else [])


def _copied_text(store: LabelStore, value: str, sources: set[str]) -> set[str]:
    """`{"text"}` when a run of MAX_NGRAM words of `value` was seen only in untrusted text."""
    found: set[str] = set()
    for raw in segments(fold_unicode(value)):
        keys = [word.casefold() for word in raw]
        for start in range(len(keys) - MAX_NGRAM + 1):
            hit = store.lookup(" ".join(keys[start : start + MAX_NGRAM]))
            if hit.untrusted and not hit.trusted:
                sources.update(hit.sources)
                found.add("text")
    return found


def _label_links(store: LabelStore, text: str) -> ArgProvenance:
    untrusted: set[str] = set()
    via: set[str] = set()
    for token in value_tokens(text):
        if token.kind in _LINK_KINDS:
            hit = store.lookup(token.key)
            if hit.untrusted and not hit.trusted:
                untrusted.update(hit.sources)
                via.add(token.kind)
    if via:
        return ArgProvenance("untrusted", sorted(untrusted), sorted(via))
    return ArgProvenance("unknown" if store.overflowed and _has_links(text) else "model")


def _has_links(text: str) -> bool:
    return any(token.kind in _LINK_KINDS for token in value_tokens(text))


def _label(store: LabelStore, value: Any, sink: SinkSpec | None) -> ArgProvenance:
    if isinstance(value, str):
        if sink is not None and sink.kind == "links":
            return _label_links(store, value)
        return _label_string(store, value, sink)
    if isinstance(value, bool) or value is None:
        return ArgProvenance("model")
    if isinstance(value, int | float):
        return _label_string(store, normalise_value(repr(value)), sink)
    items: list[Any]
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        return _label_string(store, str(value), sink)
    labels = [_label(store, item, sink) for item in items]
    if not labels:
        return ArgProvenance("model")
    worst = min(labels, key=lambda label: _ORDER[label.trust])
    # The sources that explain the label: those of the elements that are as bad as the worst.
    return ArgProvenance(
        worst.trust,
        sorted({s for label in labels if label.trust == worst.trust for s in label.sources}),
        sorted({v for label in labels for v in label.via}),
        task=all(label.task for label in labels),
    )


def argument_provenance(
    store: LabelStore,
    args: Mapping[str, Any],
    sinks: Mapping[str, SinkSpec] | None = None,
    effect: str | None = None,
) -> CallProvenance:
    """Label every argument of one call; sink arguments carry their sink kind."""
    declared = dict(sinks or {})
    if effect == "egress":
        for name in _EGRESS_URL_ARGS:
            if name in args and name not in declared:
                declared[name] = SinkSpec("url")
    labelled: dict[str, ArgProvenance] = {}
    for name, value in args.items():
        spec = declared.get(name)
        label = _label(store, value, spec)
        if spec is not None:
            label.sink, label.origin = spec.kind, spec.origin
        labelled[name] = label
    return CallProvenance(labelled, overflowed=store.overflowed, effect=effect)


def _replayed_link(provenance: CallProvenance, arg: ArgProvenance) -> bool:
    """An egress URL fetched exactly as some content wrote it carries nothing out.

    What an egress call can leak is what the model *adds* to a URL (a query built from the
    run's data); a link followed verbatim holds only what its author already knew. A URL
    whose destination came from untrusted content and that is not verbatim is refused.
    """
    return (
        provenance.effect == "egress"
        and arg.sink == "url"
        and arg.trust == "untrusted"
        and arg.via == ["value"]
    )


def judge(provenance: CallProvenance) -> SinkDecision:
    """The sink rule: `untrusted_sink` when a sink's value comes from untrusted content only."""
    refused: list[str] = []
    reasons: list[str] = []
    for name, arg in sorted(provenance.args.items()):
        if arg.sink is None:
            continue
        if _replayed_link(provenance, arg):
            continue
        if arg.trust in ("untrusted", "unknown"):
            refused.append(name)
            where = ", ".join(arg.sources) or "content the run can no longer tell apart"
            reasons.append(
                f"{arg.sink} argument {name} comes from untrusted content ({where}), "
                "not from the task or trusted data"
            )
        elif arg.origin == "task" and not arg.task:
            refused.append(name)
            reasons.append(
                f"{arg.sink} argument {name} must be named in the task: the user did not ask for it"
            )
    if refused:
        return SinkDecision("untrusted_sink", tuple(refused), tuple(reasons))
    return SinkDecision("allow")
