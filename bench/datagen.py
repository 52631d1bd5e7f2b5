"""Generate a seeded, realistic desktop history: a thin wrapper around ``fastaw gen``.

Run from the repository root with the fastaw venv, e.g.::

    .venv/bin/python bench/datagen.py --data-dir bench/.data/1y --years 1
    .venv/bin/python bench/datagen.py --url http://127.0.0.1:5600 --years 0.1

Every option of ``fastaw gen --help`` applies; keep generated stores under
``bench/.data/`` (ignored by git).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastaw.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["gen", *sys.argv[1:]]))
