"""`python bench/runner` or `python -m bench.runner`: the benchmark (what `bench/run` runs)."""

import sys
from pathlib import Path

if not __package__:
    # Run as a folder: replace its own entry on sys.path (whose module names could shadow
    # others) with the repository root, so `bench.runner` imports as a package.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from bench.runner.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
