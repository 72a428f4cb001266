"""Detectors: each finds one family of problems in a text and reports spans, never values.

Owns the three built-in families (secrets, PII, injected instructions). A detector returns
`Finding`s with character offsets and a `sha256:` hash of the matched text; it never keeps
the text itself and never decides a verdict (the checker does).
"""

from __future__ import annotations

from runtime.safety.detectors.injection import InjectionDetector
from runtime.safety.detectors.pii import PiiDetector
from runtime.safety.detectors.secrets import SecretsDetector

__all__ = ["InjectionDetector", "PiiDetector", "SecretsDetector", "default_detectors"]


def default_detectors() -> list[SecretsDetector | PiiDetector | InjectionDetector]:
    """One of each built-in detector, in the order the checker runs them."""
    return [SecretsDetector(), PiiDetector(), InjectionDetector()]
