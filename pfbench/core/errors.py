"""Exit codes of every `pfbench` command (the README's table) and the error a refused input raises."""
from __future__ import annotations

# Exit codes of every command (README "Exit codes").
EXIT_OK = 0            # what was asked was done
EXIT_FAILED = 1        # done, but a check failed or something asked was skipped/failed (named on stderr)
EXIT_USAGE = 2         # refused: bad argument or input, nothing (more) was written
EXIT_PARTIAL = 3       # some inputs were unreadable; the others' results were written
EXIT_INTERRUPTED = 130  # Ctrl-C


class UsageError(ValueError):
    """A refused input: `pfbench` prints it as one line and exits 2."""
