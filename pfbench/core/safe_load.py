"""The one way pfbench reads a PyTorch file: ``torch.load(weights_only=True)``, never code from a file.

``weights_only=True`` unpickles only tensors and plain containers, numbers and strings; a crafted file whose
``__reduce__`` would run a command is refused before anything in it runs. No extra globals are allow-listed
(pfbench's own payloads need none). Used by checkpoints (pfbench.train), RAFT weights (metrics.flow) and the
aesthetic head (metrics.encoders).
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch


def safe_torch_load(path: str | os.PathLike, what: str = "checkpoint", fix: str = "", map_location="cpu"):
    """``torch.load(path, weights_only=True)`` with one-line errors that name the file and the fix.

    A file that asks to unpickle anything but tensors and plain containers (a class, a function: code) is
    refused: nothing in it runs. ``what`` names the file's role, ``fix`` says what to pass instead.
    """
    path = Path(path)
    fix = fix or "pass a file written by `pfbench train`"
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist: {fix}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        code = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported global" in ln), None)
        if code is not None:
            raise ValueError(f"{what} {path} was refused: it asks to unpickle code or objects ({code[:160]}); "
                             f"pfbench loads with weights_only=True and never runs code from a file: {fix}") from None
        detail = next((ln for ln in lines if ln.startswith("Unsupported") or "error:" in ln.lower()), lines[-1:] or [""])
        detail = detail if isinstance(detail, str) else detail[0]
        raise ValueError(f"{what} {path} cannot be read ({detail[:160]}); it is corrupt or not a PyTorch file: "
                         f"{fix}") from None
    except Exception as err:  # noqa: BLE001 - torch raises many types for corrupt files
        msg = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise ValueError(f"{what} {path} cannot be read ({type(err).__name__}: {msg}); it is corrupt or not a "
                         f"PyTorch file: {fix}") from None
