"""What runs INSIDE the sandbox: the executor (`executor.py`) and the image recipe.

Owns: the in-box side of the executor protocol and the Dockerfile; the offline debootstrap
recipe is in `runtime.sandbox.image`, run by `runtime sandbox build`. Never decides policy,
never talks to the network, never imports anything outside the standard library.
"""
