"""`python -m bench run ...` (the benchmark), `python -m bench generate ...` (an estate file only),
`python -m bench sandbox-cost ...` (the sandbox's CPU per call). See bench/README.md."""

from __future__ import annotations

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
