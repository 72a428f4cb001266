"""The chat stage's errors, under the runtime's one tree (`runtime/errors.py`).

    EnvironmentProblem            (exit 5)
    ├── ModelUnavailable          before a run: missing extra, missing key, endpoint down
    └── ModelCallFailed           during a run: the provider failed after the last retry

Both name the fix in one sentence and never carry an API key.
"""

from __future__ import annotations

from runtime.errors import EnvironmentProblem


class ModelUnavailable(EnvironmentProblem):
    """A model cannot be used on this machine: an extra, a key or the endpoint is missing."""


class ModelCallFailed(EnvironmentProblem):
    """The provider kept failing (timeouts, 429 or 5xx) until the retries ran out."""
