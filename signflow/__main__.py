"""`python -m signflow`: the same as the `signflow` command."""

from signflow.cli import run

run()
