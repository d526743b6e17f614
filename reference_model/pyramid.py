"""Spatial pyramidal flow matching: stage windows, the noise pyramid, coupled endpoints, the jump.

Conventions (PAPER_FACTS.md): t in [0, 1], t = 0 noise, t = 1 data; stage k = 0 is full resolution,
k = K - 1 the coarsest (1 / 2^(K-1) of the full size). Down is 2x2 averaging per level, Up is nearest.
Functions accept (B, C, H, W) images or (B, C, T, H, W) clips; the pyramid acts on the last two axes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DEFAULT_GAMMA = -1.0 / 3.0


def _check_gamma(gamma: float) -> None:
    if not -1.0 / 3.0 - 1e-12 <= gamma < 0.0:
        raise ValueError(f"gamma must lie in [-1/3, 0), got {gamma}: -1/3 adds the least corrective noise")


def stage_windows(num_stages: int, gamma: float = DEFAULT_GAMMA) -> list[tuple[float, float]]:
    """Time window [s_k, e_k] of every stage, indexed by k (k = 0 full resolution).

    Ends are e_k = 1 - k / K. Starts follow the continuity rule: the jump from stage k+1 must map the
    end distribution of k+1 onto the start distribution of k, which ties e_{k+1} to s_k by
    e_{k+1} = s_k sqrt(1-g) / ((1 - s_k) sqrt(-g) + s_k sqrt(1-g)); solved for s_k:
    s_k = e_{k+1} sqrt(-g) / ((1 - e_{k+1}) sqrt(1-g) + e_{k+1} sqrt(-g)). The coarsest stage starts at 0.
    """
    if num_stages < 1:
        raise ValueError(f"num_stages must be >= 1, got {num_stages}")
    _check_gamma(gamma)
    a, b = math.sqrt(1.0 - gamma), math.sqrt(-gamma)
    ends = [1.0 - k / num_stages for k in range(num_stages)]
    windows = []
    for k in range(num_stages):
        if k == num_stages - 1:
            start = 0.0
        else:
            e_next = ends[k + 1]
            start = e_next * b / ((1.0 - e_next) * a + e_next * b)
        windows.append((start, ends[k]))
    return windows


def jump_coefficients(s_k: float, gamma: float = DEFAULT_GAMMA) -> tuple[float, float]:
    """(rescale, noise_scale) of the jump into a stage that starts at s_k.

    rescale = s_k / e_{k+1} = s_k + (1 - s_k) sqrt(-g / (1 - g)); noise_scale = (1 - s_k) / sqrt(1 - g).
    For g = -1/3 this is ((1 + s_k) / 2, sqrt(3) (1 - s_k) / 2).
    """
    _check_gamma(gamma)
    rescale = s_k + (1.0 - s_k) * math.sqrt(-gamma / (1.0 - gamma))
    noise_scale = (1.0 - s_k) / math.sqrt(1.0 - gamma)
    return rescale, noise_scale


# --------------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------------
def _spatial(fn, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2D op to the last two axes of a 4D or 5D tensor."""
    if x.ndim == 4:
        return fn(x)
    if x.ndim == 5:
        B, C, T, H, W = x.shape
        y = fn(x.permute(0, 2, 1, 3, 4).reshape(B * T, C, H, W))  # (B * T, C, H', W')
        return y.reshape(B, T, C, *y.shape[-2:]).permute(0, 2, 1, 3, 4)
    raise ValueError(f"expected a (B, C, H, W) or (B, C, T, H, W) tensor, got shape {tuple(x.shape)}")


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Down(x, factor): factor x factor averaging (bilinear for factor 2), identity for factor 1."""
    if factor == 1:
        return x
    if x.shape[-1] % factor or x.shape[-2] % factor:
        raise ValueError(f"spatial size {tuple(x.shape[-2:])} is not divisible by {factor}")
    return _spatial(lambda z: F.avg_pool2d(z, factor), x)


def upsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Up: nearest-neighbour upsampling."""
    if factor == 1:
        return x
    return _spatial(lambda z: F.interpolate(z, scale_factor=factor, mode="nearest"), x)


def check_pyramid_size(height: int, width: int, num_stages: int, patch_size: int = 1) -> None:
    """Raise a clear error when H, W cannot be halved K - 1 times and still be patchified."""
    unit = patch_size * 2 ** (num_stages - 1)
    if height % unit or width % unit:
        raise ValueError(
            f"latent size {height}x{width} cannot be halved {num_stages - 1} times and patchified with patch "
            f"size {patch_size}: height and width must be multiples of {unit} (e.g. {unit * max(1, height // unit)}"
            f"x{unit * max(1, width // unit)}), or use fewer stages"
        )


# --------------------------------------------------------------------------------------------------
# Noise pyramid, endpoints, targets
# --------------------------------------------------------------------------------------------------
def noise_pyramid(noise: torch.Tensor, num_stages: int) -> list[torch.Tensor]:
    """One full-resolution draw seen at every level: level l = 2^l-averaged draw times 2^l (unit variance)."""
    levels = [noise]
    for _ in range(1, num_stages):
        levels.append(downsample(levels[-1], 2) * 2.0)
    return levels


def stage_endpoints(x1: torch.Tensor, noise_k: torch.Tensor, k: int, num_stages: int,
                    windows: list[tuple[float, float]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Coupled start and end points of stage k (both at level-k resolution, one shared noise).

    end:   x_e = e_k Down(x1, 2^k) + (1 - e_k) n
    start: x_s = s_k Up(Down(x1, 2^(k+1))) + (1 - s_k) n        (pure noise at the coarsest stage)
    """
    windows = windows or stage_windows(num_stages)
    s, e = windows[k]
    data_k = downsample(x1, 2 ** k)
    x_end = e * data_k + (1.0 - e) * noise_k
    if k == num_stages - 1:
        x_start = s * data_k + (1.0 - s) * noise_k if s > 0 else noise_k
    else:
        x_start = s * upsample(downsample(x1, 2 ** (k + 1)), 2) + (1.0 - s) * noise_k
    return x_start, x_end


def interpolate(x_start: torch.Tensor, x_end: torch.Tensor, t_local: torch.Tensor) -> torch.Tensor:
    """x_t = t' x_e + (1 - t') x_s with t' (B,) broadcast over the remaining axes."""
    t = t_local.view(-1, *([1] * (x_start.ndim - 1))).to(x_start.dtype)
    return t * x_end + (1.0 - t) * x_start


def time_dtype(x: torch.Tensor) -> torch.dtype:
    """dtype of the time fed to the model: float64 for float64 latents (exact tests), float32 otherwise."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32



TIME_CONDITIONINGS = ("stage", "global")
DEFAULT_TIME_CONDITIONING = "stage"


def check_time_conditioning(conditioning: str) -> None:
    if conditioning not in TIME_CONDITIONINGS:
        raise ValueError(f"unknown time conditioning {conditioning!r}: choose 'stage' (each stage its own segment "
                         "of the model's time scale, as the public Pyramid-Flow code) or 'global' (the true time t)")


def model_time_segments(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Each stage's own disjoint segment [a_k, b_k] of the model's time scale [0, 1], indexed by k.

    The public Pyramid-Flow scheduler (jy0205/Pyramid-Flow, diffusion_schedulers/scheduling_flow_matching.py,
    ``init_sigmas_for_each_stage``) splits its 0..1000 timestep scale into consecutive segments, coarsest stage
    first, each as long as the stage's flow length (start sigma - end sigma = e_k - s_k here) over the sum of all
    lengths (``timestep_ratios``), and feeds stage i the timesteps running linearly over its segment as its own
    sigma runs 1 -> 0 (``timesteps_per_stage`` and ``sigmas_per_stage`` share one index). In t = 1 - sigma, with
    L_k = e_k - s_k: a_k = sum_{j > k} L_j / sum_j L_j, b_k = a_k + L_k / sum_j L_j. For K = 3 (L = 1/3, 7/15,
    1/2): [0, 0.2564], [0.2564, 0.6154], [0.6154, 1], i.e. timesteps 1000 -> 744 -> 385 -> 0 in the code's
    sigma scale. K = 1 gives [0, 1] (full-sequence flow matching is unchanged).
    """
    lengths = [e - s for s, e in windows]
    total = sum(lengths)
    segments, start = [None] * len(windows), 0.0
    for k in range(len(windows) - 1, -1, -1):  # coarsest first
        end = 1.0 if k == 0 else start + lengths[k] / total
        segments[k] = (start, end)
        start = end
    return segments


def model_time(t_local: torch.Tensor, k: int, windows: list[tuple[float, float]],
               conditioning: str = DEFAULT_TIME_CONDITIONING) -> torch.Tensor:
    """The time the model is fed at local time t' of stage k: its segment a_k + t' (b_k - a_k) ('stage', the
    default: a time tells the stage) or the true global time s_k + t' (e_k - s_k) ('global': windows overlap,
    so one time can belong to two stages)."""
    check_time_conditioning(conditioning)
    a, b = model_time_segments(windows)[k] if conditioning == "stage" else windows[k]
    return a + t_local * (b - a)


def velocity_target(x_start: torch.Tensor, x_end: torch.Tensor) -> torch.Tensor:
    """The straight-path velocity inside a stage: x_e - x_s."""
    return x_end - x_start


# --------------------------------------------------------------------------------------------------
# The renoising jump
# --------------------------------------------------------------------------------------------------
def block_correlated_noise(shape, gamma: float = DEFAULT_GAMMA, generator: torch.Generator | None = None,
                           device=None, dtype=torch.float32) -> torch.Tensor:
    """Gaussian noise with unit variance and correlation gamma inside every 2x2 block (blocks independent).

    The block covariance (1 - g) I + g 11^T is built from its square root
    sqrt(1 - g) (I - P) + sqrt(1 + 3 g) P, P = 11^T / 4: subtract/scale the block mean. Rank 3 at g = -1/3.
    """
    _check_gamma(gamma)
    *lead, H, W = shape
    if H % 2 or W % 2:
        raise ValueError(f"block-correlated noise needs even spatial sizes, got {H}x{W}")
    z = torch.randn(*lead, H // 2, 2, W // 2, 2, generator=generator, device=device, dtype=dtype)
    block_mean = z.mean(dim=(-3, -1), keepdim=True)  # (..., H/2, 1, W/2, 1)
    n = math.sqrt(1.0 - gamma) * (z - block_mean) + math.sqrt(max(0.0, 1.0 + 3.0 * gamma)) * block_mean
    return n.reshape(*lead, H, W)


def renoise(x: torch.Tensor, s_k: float, gamma: float = DEFAULT_GAMMA, generator: torch.Generator | None = None,
            corrective: bool = True, keep_variance: bool = True) -> torch.Tensor:
    """Jump from the end of stage k+1 to the start of stage k.

    x_s = rescale * Up(x_e) + noise_scale * n', n' block-correlated (correlation gamma inside every 2x2 block),
    which cancels the perfect correlation Up() gives the noise left in x_e: unit-variance, uncorrelated noise of
    std (1 - s_k), as training's start point has.

    The ablation ``corrective=False`` changes only the correlation: with ``keep_variance`` (default) the added
    noise is noise_scale * Up(z), z ~ N(0, I) at the coarse level (constant inside each 2x2 block), so the noise's
    marginal variance is still (rescale (1 - e_{k+1}))^2 + noise_scale^2 = (1 - s_k)^2 (the rescale and noise
    scale follow from the continuity rule) but every 2x2 block of it is perfectly correlated. ``keep_variance=False``
    is the earlier ablation: rescaled upsampling only, noise std rescale (1 - e_{k+1}) = (1 - s_k) / 2 at
    gamma = -1/3 (variance 1/4 of the target: it changes the variance too).
    """
    rescale, noise_scale = jump_coefficients(s_k, gamma)
    up = upsample(x, 2) * rescale  # (..., 2h, 2w)
    if corrective:
        return up + noise_scale * block_correlated_noise(up.shape, gamma, generator, up.device, up.dtype)
    if not keep_variance:
        return up
    z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)  # (..., h, w) one draw per block
    return up + noise_scale * upsample(z, 2)
