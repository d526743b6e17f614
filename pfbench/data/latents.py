"""Precomputed latents: a folder of safetensors files, one clip each, (C, T, H, W), that a real VAE computed once,
with a small ``manifest.json`` naming the channels and the VAE's compression::

    {"channels": 16, "vae_spatial": 8, "vae_temporal": 8, "key": "latent", "vae": "name of the VAE (optional)"}

Every file is checked against the manifest when the folder is read (a tensor with other channels or rank is an
error naming the file). Crops follow pfbench.data.real's rule: the last ``heldout_fraction`` of every clip's frames is
the held-out segment, a crop never crosses it, and item i of a split comes from clip i mod n with a position drawn
from a generator seeded by (seed, split, i). Loading is safetensors only: nothing in a file runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

MANIFEST = "manifest.json"
SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class LatentManifest:
    channels: int
    vae_spatial: int
    vae_temporal: int
    key: str = "latent"
    vae: str = ""


def read_manifest(folder: str | Path) -> LatentManifest:
    """The folder's manifest.json, every field checked; a ValueError names the file and the field."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ValueError(f"data.latents {folder}: no {MANIFEST}; write one such as {{\"channels\": 16, "
                         f"\"vae_spatial\": 8, \"vae_temporal\": 8}} beside the .safetensors files")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err}); fix the file") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object with channels, vae_spatial, vae_temporal")
    unknown = sorted(set(raw) - {"channels", "vae_spatial", "vae_temporal", "key", "vae"})
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {', '.join(unknown)}; allowed: channels, vae_spatial, "
                         f"vae_temporal, key, vae")
    for name in ("channels", "vae_spatial", "vae_temporal"):
        value = raw.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{path}: {name} = {value!r}: expected a positive whole number")
    for name in ("key", "vae"):
        if name in raw and not isinstance(raw[name], str):
            raise ValueError(f"{path}: {name} = {raw[name]!r}: expected a string")
    return LatentManifest(**raw)


def load_latent_folder(folder: str | Path) -> tuple[LatentManifest, list[Path], list[torch.Tensor]]:
    """(manifest, files, their (C, T, H, W) float32 tensors); a file that disagrees with the manifest is an error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"data.latents {folder}: no such folder")
    manifest = read_manifest(folder)
    paths = sorted(folder.rglob("*.safetensors"))
    if not paths:
        raise ValueError(f"data.latents {folder}: no .safetensors files (one clip (C, T, H, W) per file)")
    tensors = []
    for path in paths:
        try:
            found = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable safetensors file ({err}); rewrite it with "
                             f"safetensors.torch.save_file") from None
        if manifest.key not in found:
            raise ValueError(f"{path}: no tensor {manifest.key!r} (has {', '.join(found) or 'none'}); name it as "
                             f"{MANIFEST}'s key says")
        x = found[manifest.key]
        if x.dim() != 4 or x.shape[0] != manifest.channels:
            raise ValueError(f"{path}: tensor {manifest.key!r} has shape {tuple(x.shape)} but {folder / MANIFEST} "
                             f"says (C={manifest.channels}, T, H, W); fix the file or the manifest")
        if not torch.isfinite(x).all():
            raise ValueError(f"{path}: tensor {manifest.key!r} holds NaN or Inf; recompute it")
        tensors.append(x.float())
    return manifest, paths, tensors


class LatentClips(Dataset):
    """Deterministic (C, frames, height, width) crops of precomputed latents, one split, with labels (clip index mod
    ``num_classes``)."""

    def __init__(self, folder: str | Path, frames: int, height: int, width: int, split: str = "train",
                 num_clips: int = 64, heldout_fraction: float = 0.25, num_classes: int = 4, seed: int = 0):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.manifest, self.paths, self.latents = load_latent_folder(folder)
        self.frames, self.height, self.width, self.split = frames, height, width, split
        self.num_clips, self.num_classes, self.seed = num_clips, num_classes, seed
        self.segments = []
        for path, x in zip(self.paths, self.latents):
            cut = int(round(x.shape[1] * (1 - heldout_fraction)))
            seg = (0, cut) if split == "train" else (cut, x.shape[1])
            if seg[1] - seg[0] < frames or x.shape[2] < height or x.shape[3] < width:
                raise ValueError(f"{path}: its {split} segment ({seg[1] - seg[0]} latent frames of "
                                 f"{tuple(x.shape[2:])}) is too small for {frames} x {height} x {width} crops; "
                                 f"lower data.frames/height/width or data.heldout_fraction")
            self.segments.append(seg)

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        src = index % len(self.latents)
        x, (lo, hi) = self.latents[src], self.segments[src]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + SPLITS.index(self.split) * 7_919 + index)
        t0 = lo + int(torch.randint(0, hi - lo - self.frames + 1, (1,), generator=g))
        y0 = int(torch.randint(0, x.shape[2] - self.height + 1, (1,), generator=g))
        x0 = int(torch.randint(0, x.shape[3] - self.width + 1, (1,), generator=g))
        crop = x[:, t0:t0 + self.frames, y0:y0 + self.height, x0:x0 + self.width]  # (C, T, H, W)
        return crop.contiguous(), torch.tensor(src % self.num_classes)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split as (N, C, T, H, W) crops and (N,) labels."""
        clips, labels = zip(*(self[i] for i in range(len(self))))
        return torch.stack(clips), torch.stack(labels)
