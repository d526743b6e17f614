"""Training: run folders with exact resume, DDP/FSDP2 under torchrun (``torchrun -m pfbench.train``).

- ``loop``: TrainConfig, RunConfig, train() (AdamW, warm-up, EMA, label dropout, one seeded sample stream)
- ``checkpoint``: safe loading (weights_only=True), atomic writes, the last k kept
- ``state``: what a checkpoint holds (model, optimizer, EMA, LR schedule, progress, RNG states)
- ``rundir``: config.json and the append-only log.csv
- ``parallel``: DDP / FSDP2 wrappers;  ``cli``: the shared arguments of `pfbench train` and ``__main__``
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from pfbench.train.checkpoint import CHECKPOINT_FORMAT, atomic_save, load_payload, safe_torch_load
from pfbench.train.loop import (DEFAULT_GAMMA, RunConfig, TrainConfig, TrainResult, dataset_for_preset,
                                model_for_preset, train)
from reference_model.dit import DiT, DiTConfig

__all__ = ["CHECKPOINT_FORMAT", "DEFAULT_GAMMA", "RunConfig", "TrainConfig", "TrainResult", "dataset_for_preset",
           "load_checkpoint", "model_for_preset", "safe_torch_load", "save_checkpoint", "train"]


def save_checkpoint(path: str | os.PathLike, model: DiT, meta: dict, optimizer=None, step: int = 0) -> Path:
    """A single-file checkpoint of a model (atomic write); run folders use pfbench.train.state instead."""
    payload = {"format": CHECKPOINT_FORMAT, "model_config": dataclasses.asdict(model.cfg),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "meta": meta,
               "step": step, "optimizer": optimizer.state_dict() if optimizer is not None else None}
    return atomic_save(payload, path)


def load_checkpoint(path: str | os.PathLike, weights: str = "model") -> tuple[DiT, dict]:
    """Rebuild the model from a checkpoint file (or a run folder: its last.pt), loaded safely.

    ``weights``: 'model' (the trained weights) or 'ema' (their moving average, run-folder checkpoints).
    meta holds variant, preset, preset_config (the resolved preset of the run), train_config, gamma, step.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    payload = load_payload(path)
    cfg = payload["model_config"]
    if not isinstance(cfg, dict) or not isinstance(payload.get("state_dict"), dict):
        raise ValueError(f"checkpoint {path} has no model config/state dict: write it with `pfbench train`")
    try:
        model = DiT(DiTConfig(**cfg))
    except TypeError as err:
        raise ValueError(f"checkpoint {path} has a model config this version cannot build ({err})") from None
    state = payload["state_dict"]
    if weights == "ema":
        if not payload.get("ema"):
            raise ValueError(f"checkpoint {path} holds no EMA weights: sample without --ema")
        state = {**state, **payload["ema"]}
    elif weights != "model":
        raise ValueError(f"weights must be 'model' or 'ema', got {weights!r}")
    model.load_state_dict(state)
    meta = dict(payload.get("meta") or {})
    meta.update(step=payload.get("step", 0), optimizer=payload.get("optimizer"), path=str(path))
    return model, meta
