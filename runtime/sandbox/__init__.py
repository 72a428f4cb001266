"""Sandboxes: start hardened boxes, talk to the executor inside, stage and commit changes.

Owns: the SandboxBackend protocol, the Docker implementation, the warm pool, change sets
and the commit into the run's output folder. Never decides policy and never judges content:
it runs what the pipeline already authorized and reports what happened.
"""
