"""Sub-commands of the `pfbench` CLI, one module each."""
