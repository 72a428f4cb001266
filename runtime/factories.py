"""The stages a `Runtime` builds from its Settings: the policy engine and the sandbox spec.

Kept apart from `runtime/core.py` (which wires the built stages together and drives runs)
so that commands which need one stage (e.g. `runtime policy eval`) build it the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.settings import Settings


def build_policy_engine(settings: Settings) -> Any:
    """The configured engine: a managed or remote OPA server, or embedded regopy."""
    if settings.policy_engine == "embedded":
        from runtime.policy.embedded import EmbeddedEngine

        return EmbeddedEngine(settings.resolved_policy_dir)
    from runtime.policy.opa import OpaServerEngine

    binary = Path(settings.opa_binary) if settings.opa_binary else None
    if settings.opa_url:
        return OpaServerEngine(settings.resolved_policy_dir, url=settings.opa_url)
    return OpaServerEngine(settings.resolved_policy_dir, opa_binary=binary)


def sandbox_spec(settings: Settings) -> Any:
    """The box every run of this Runtime gets: the image and its limits."""
    from runtime.sandbox.base import SandboxLimits, SandboxSpec
    from runtime.sandbox.image import image_tag

    limits = SandboxLimits(
        memory_mb=settings.sandbox_memory_mb, call_timeout_s=settings.sandbox_call_timeout_s
    )
    return SandboxSpec(image=settings.sandbox_image or image_tag(), limits=limits)
