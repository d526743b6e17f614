"""Training: run folders with exact resume, DDP/FSDP2 under torchrun (``torchrun -m pfbench.train``).

- ``loop``: TrainConfig, RunConfig, train() (AdamW, warm-up, EMA, label dropout, one seeded sample stream)
- ``checkpoint``: safe loading (weights_only=True), atomic writes, the last k kept
- ``state``: what a checkpoint holds (model, optimizer, EMA, LR schedule, progress, RNG states)
- ``rundir``: config.json and the append-only log.csv
- ``parallel``: DDP / FSDP2 wrappers; ``__main__``: the torchrun entry (arguments: pfbench/cli/commands/train.py)
"""
