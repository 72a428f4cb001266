"""Sandboxes: start hardened boxes, talk to the executor inside, stage and commit changes.

Owns: the SandboxBackend protocol, the Docker implementation (`docker.py`, `box.py`), the
warm pool, change sets and the rules for file names leaving a box (`changeset.py`,
`names.py`), the all-or-nothing commit into the run's output folder (`output.py`), what a
new box is seeded with (`seed.py`), the image (`image.py`) and the admin commands
(`admin.py`). Never decides policy and never judges content: it runs what the pipeline
already authorized and reports what happened.
"""
