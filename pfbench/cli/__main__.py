"""``python -m pfbench.cli ARGS``: the `pfbench` command without its console script."""
import sys

from pfbench.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
