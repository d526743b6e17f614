"""pfbench: benchmark harness for pyramidal flow matching."""
