"""``torchrun --nproc_per_node=N -m pfbench.train ARGS`` (ARGS as for `pfbench train`): one rank per process."""
import sys

from pfbench.cli.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
