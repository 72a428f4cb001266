"""Policy: the decision point for every tool call and memory access.

Owns: the PolicyEngine protocol, the OPA server engine, the embedded (regopy) engine, the
input/decision schemas and the fail-closed authorizer. Never executes a tool or touches a
sandbox; every failure to decide becomes a deny that says why.
"""
