"""`python -m tunebench` is the `tunebench` command."""

from tunebench.cli import main

main()
