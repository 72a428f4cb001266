"""What crosses a seam: provenance in policy input schema 2, and the principal's trusted data.

`ArgLabel` / `ProvenanceV2` are what `input.provenance` holds for schema 2 (the pipeline
puts `CallProvenance.to_model()` there; the policy schema is generated from these models).
`TrustedData` is the `trusted_data` section of `runtime.toml` (or of the policy data): the
principal's identity, contacts and accounts, indexed as trusted at the start of each run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ArgLabel", "ProvenanceV2", "TrustedData"]


class ArgLabel(BaseModel):
    """Where one argument's value came from (`input.provenance.args[name]`, schema 2)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trust: Literal["trusted", "untrusted", "model", "unknown"] = Field(
        description="trusted: seen in trusted content (a value seen in both is trusted); "
        "untrusted: the value, a place-naming token in it or a run of its words was seen only "
        "in untrusted content; model: seen nowhere; unknown: seen nowhere after the label "
        "store had to forget untrusted labels (treat as untrusted)."
    )
    sources: list[str] = Field(
        default_factory=list,
        description="The sources that explain the label (task, trusted_data.<section>, tools).",
    )
    via: list[str] = Field(
        default_factory=list,
        description="How it was found: value (the whole value), email, url, domain, iban, "
        "account, phone, number (typed tokens inside it), text (copied prose).",
    )
    sink: str | None = Field(
        default=None, description="The argument's sink kind, or null when it is not a sink."
    )
    origin: Literal["any", "task"] = Field(
        default="any", description="task: only a value the task text names may fill this sink."
    )
    task: bool = Field(default=False, description="The value is named in the task text.")


class ProvenanceV2(BaseModel):
    """`input.provenance` in policy input schema 2."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    args: dict[str, ArgLabel] = Field(default_factory=dict)
    legacy_args: dict[str, Literal["trusted", "untrusted"]] = Field(
        default_factory=dict,
        description="The schema-1 shape of args, kept for one release: unknown is untrusted.",
    )
    untrusted_sources_seen: list[str] = Field(default_factory=list)
    overflowed: bool = Field(
        default=False, description="The run's label store had to forget untrusted labels."
    )


class TrustedData(BaseModel):
    """The principal's own data: everything in it is trusted in every run.

    ```toml
    [trusted_data.identity]
    name = "Dana Reyes"
    email = "dana.reyes@northwind.example.com"

    [[trusted_data.contacts]]
    name = "Emma Johnson"
    email = "emma.johnson@northwind.example.com"

    [[trusted_data.accounts]]
    name = "Current account"
    iban = "FR1420041010050500013M02606"
    ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: dict[str, Any] = Field(default_factory=dict)
    contacts: list[dict[str, Any]] = Field(default_factory=list)
    accounts: list[dict[str, Any]] = Field(default_factory=list)
    other: dict[str, Any] = Field(
        default_factory=dict, description="Anything else the principal vouches for."
    )
