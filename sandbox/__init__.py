"""What runs INSIDE the sandbox: the executor (`executor.py`) and the image recipe.

Owns: the in-box side of the executor protocol and how the image is built (Dockerfile and
the offline debootstrap recipe driven by `runtime.sandbox.image`). Never decides policy,
never talks to the network, never imports anything outside the standard library.
"""
