"""Audit: an append-only, hash-chained event log per state directory, and its verifier.

Owns: writing events, reading a run's timeline, and detecting tampering. Never decides
anything; it records what the other stages did.
"""
