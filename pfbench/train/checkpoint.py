"""Checkpoint files: safe loading (no pickled code ever runs), atomic writes, the last k kept.

Loading uses ``torch.load(weights_only=True)``: only tensors and plain containers/numbers/strings are
unpickled, so a crafted file whose ``__reduce__`` would run a command is refused before anything runs.
pfbench's payloads hold nothing else (RNG states are tensors or lists of ints, configs are dicts), so no
extra globals are allow-listed.

A write goes to ``NAME.tmp``, is fsync'ed, hard-linked to ``ckpt-<step>.pt`` and renamed over ``last.pt``,
then the folder is fsync'ed: ``last.pt`` is always the latest complete checkpoint, whatever moment a
``kill -9`` picks. ``PFBENCH_TEST_KILL=checkpoint:<n>`` kills the process with SIGKILL inside the n-th write
(after the temporary file is half written), for the crash tests.
"""
from __future__ import annotations

import dataclasses
import os
import re
import signal
from pathlib import Path

import torch

from pfbench.core.files import atomic_path
from pfbench.core.safe_load import safe_torch_load
from reference_model.dit import DiT, DiTConfig

CHECKPOINT_FORMAT = "pfbench-checkpoint-v2"
READABLE_FORMATS = ("pfbench-checkpoint-v1", CHECKPOINT_FORMAT)
LAST = "last.pt"
KILL_ENV = "PFBENCH_TEST_KILL"
_CKPT_RE = re.compile(r"^ckpt-(\d+)\.pt$")


def load_payload(path: str | os.PathLike) -> dict:
    """A pfbench checkpoint's payload dict (safe load, format checked)."""
    payload = safe_torch_load(path, "checkpoint", "pass a file written by `pfbench train --out` (DIR/last.pt), or "
                                                  "re-run `pfbench train` to write a new one")
    if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
        raise ValueError(f"checkpoint {path} is not a pfbench checkpoint (expected format {CHECKPOINT_FORMAT}); "
                         "write one with `pfbench train --out DIR` and pass DIR/last.pt")
    return payload


def _kill_hook(point: str, count: int) -> None:
    """Test hook: SIGKILL this process at the named point (``PFBENCH_TEST_KILL=point:n[,point:n]``)."""
    for item in os.environ.get(KILL_ENV, "").split(","):
        name, _, n = item.partition(":")
        if name == point and n.isdigit() and int(n) == count:
            os.kill(os.getpid(), signal.SIGKILL)


def _write_tmp(payload: dict, tmp: Path, write_index: int = 0) -> None:
    """torch.save into ``tmp`` and fsync it. With the crash hook armed for this write, the file is first left
    torn (half its bytes) and the process is killed there, as a power cut or ``kill -9`` mid-write leaves it."""
    with open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        if write_index and KILL_ENV in os.environ:
            fh.truncate(max(1, fh.tell() // 2))
            fh.flush()
            os.fsync(fh.fileno())
            _kill_hook("checkpoint", write_index)
            fh.seek(0)
            torch.save(payload, fh)
            fh.flush()
        os.fsync(fh.fileno())


def atomic_save(payload: dict, path: str | os.PathLike) -> Path:
    """torch.save to ``path`` atomically: temporary file, fsync, rename, fsync of the folder."""
    path = Path(path)
    with atomic_path(path, durable=True, single_writer=True) as tmp:
        _write_tmp(payload, tmp)
    return path


def save_run_checkpoint(run_dir: Path, payload: dict, step: int, keep: int, write_index: int = 0) -> Path:
    """Write ``run_dir/last.pt`` atomically, keep a hard link ``ckpt-<step>.pt``, prune to the last ``keep``."""
    last = run_dir / LAST
    with atomic_path(last, durable=True, single_writer=True) as tmp:
        _write_tmp(payload, tmp, write_index)
        if keep > 0:
            named = run_dir / f"ckpt-{step:08d}.pt"
            named.unlink(missing_ok=True)
            try:
                os.link(tmp, named)
            except OSError:  # no hard links on this file system: a second copy
                import shutil
                shutil.copyfile(tmp, named)
    ckpts = list_checkpoints(run_dir)
    for old in ckpts[:-keep] if keep > 0 else ckpts:
        old.unlink(missing_ok=True)
    return last


def list_checkpoints(run_dir: Path) -> list[Path]:
    """``ckpt-<step>.pt`` files of a run folder, oldest first."""
    found = [(int(m.group(1)), p) for p in Path(run_dir).glob("ckpt-*.pt") if (m := _CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


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


UNNAMED_TIME_CONDITIONING = "global"  # what a checkpoint that names no time conditioning was trained with


def trained_time_conditioning(record: dict) -> str:
    """The time conditioning a checkpoint's model was trained with (its meta or identity); a checkpoint that names
    none was trained on the global time."""
    return str(record.get("time_conditioning", UNNAMED_TIME_CONDITIONING))
