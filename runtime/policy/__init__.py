"""Policy: the decision point for every tool call and memory access.

Owns: the PolicyEngine protocol (base.py), the OPA server engine (opa/: the engine, the
managed server locked to the runtime, the query pool, the remote push), the embedded
(regopy) engine, the input/decision schemas, the fail-closed authorizer, the decision
cache, explaining a decision (explain/), and the policy's versions: hot reload of the
policy folder (watcher.py), the snapshots and audit history of every version that became
current, and rollback (versions.py). Never executes a tool or touches a sandbox; every
failure to decide becomes a deny that says why.
"""
