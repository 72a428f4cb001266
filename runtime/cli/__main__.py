"""`python -m runtime.cli ...` is the `runtime` command."""

from runtime.cli.app import main

main()
