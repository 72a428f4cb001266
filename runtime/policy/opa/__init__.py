"""The OPA server engine, one job per module.

- engine.py: `OpaServerEngine` (the PolicyEngine): queries, restarts, reloads, explains;
- process.py: the managed `opa run --server` child, locked with a per-server token;
- pool.py: keep-alive connections for decision queries;
- push.py: pushing a bundle to a remote server through the REST API.
"""

from runtime.policy.opa.engine import ENGINE_NAME, OpaServerEngine, ServerLink
from runtime.policy.opa.process import ManagedOpaProcess, free_loopback_port

__all__ = [
    "ENGINE_NAME",
    "ManagedOpaProcess",
    "OpaServerEngine",
    "ServerLink",
    "free_loopback_port",
]
