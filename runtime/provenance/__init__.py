"""Provenance: labels on the values a run sees, and where each call argument came from.

Owns the run's label store (which values appeared in trusted and in untrusted content,
deduplicated and bounded, JSON for the checkpoint), the typed-token index with its
normalisation, argument provenance (`trusted` / `untrusted` / `model` / `unknown`, with
sources and how each was found) and the sink rule. It never decides a call on its own:
the pipeline hands its result to the policy as `input.provenance`, and the policy decides.
"""

from runtime.provenance.args import (
    SINK_KINDS,
    ArgProvenance,
    ArgTrust,
    CallProvenance,
    SinkDecision,
    SinkSpec,
    argument_provenance,
    judge,
    parse_sinks,
)
from runtime.provenance.normalize import canonical_number, fold_unicode, normalise_value
from runtime.provenance.schema import ArgLabel, ProvenanceV2, TrustedData
from runtime.provenance.store import DEFAULT_CAP, Hit, LabelStore, field_trust
from runtime.provenance.tokens import Token, text_tokens, value_tokens

__all__ = [
    "DEFAULT_CAP",
    "SINK_KINDS",
    "ArgLabel",
    "ArgProvenance",
    "ArgTrust",
    "CallProvenance",
    "Hit",
    "LabelStore",
    "ProvenanceV2",
    "SinkDecision",
    "SinkSpec",
    "Token",
    "TrustedData",
    "argument_provenance",
    "canonical_number",
    "field_trust",
    "fold_unicode",
    "judge",
    "normalise_value",
    "parse_sinks",
    "text_tokens",
    "value_tokens",
]
