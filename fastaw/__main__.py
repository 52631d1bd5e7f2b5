"""`python -m fastaw` runs the command-line interface."""

from fastaw.cli import main

# The guard matters: query workers are started with the "spawn" method, which re-imports
# the parent's main module in every child.
if __name__ == "__main__":
    raise SystemExit(main())
