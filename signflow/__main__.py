"""`python -m signflow`: the same as the `signflow` command."""

from .cli import run

run()
