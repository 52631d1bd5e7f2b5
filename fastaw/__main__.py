"""`python -m fastaw` runs the command-line interface."""

from fastaw.cli import main

raise SystemExit(main())
