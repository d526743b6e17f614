"""What a run brings checked before anything is written: the user's videos (``data.sources``: decoded once with a
progress bar; unreadable or too-short files are named and skipped, a folder with nothing usable refuses the run) and
the user's model (``model.factory``: imported, built on the meta device, checked against the velocity protocol).

The videos are checked with the same decoder and clip rule the experiments use (pfbench.data.real at the
experiment's clip shape), so the counts recorded here are the files the suites train and evaluate on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pfbench.core.config import Preset

PIXEL_SUITES = ("fid", "vbench", "ablations", "ar_per_frame")   # their metrics read decoded pixels


@dataclass(frozen=True)
class RunInputs:
    """The checked inputs of a run: videos used and skipped (with reasons), and the factory model's size."""

    sources: tuple[str, ...] = ()
    used: tuple[tuple[str, int, int, int], ...] = ()      # (path, decoded frames, height, width)
    skipped: tuple[tuple[str, str], ...] = ()            # (path, reason)
    clip: str = ""                                       # the experiment clip the videos were checked against
    latents: str = ""
    latent_clips: tuple[tuple[str, tuple[int, ...]], ...] = ()   # (path, (C, T, H, W))
    latent_vae: str = ""
    factory: str = ""
    factory_params: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        out = []
        if self.sources:
            out.append(f"data: {len(self.used)} video(s) used, {len(self.skipped)} skipped from "
                       f"{', '.join(self.sources)} (checked for {self.clip} clips)")
            out += [f"data: skipped {path}: {why}" for path, why in self.skipped]
        if self.latents:
            out.append(f"data: {len(self.latent_clips)} latent clip(s) from {self.latents}"
                       + (f" (VAE {self.latent_vae})" if self.latent_vae else "")
                       + f"; suites that need pixels are skipped: {', '.join(PIXEL_SUITES)}")
        if self.factory:
            out.append(f"model: {self.factory} ({self.factory_params:,} parameters, velocity protocol checked)")
        return out + list(self.notes)

    def rows(self) -> list[dict]:
        """Result rows (suite ``data``): counts of videos used and skipped, and one row per file."""
        if self.latents:
            note = f"data.latents = {self.latents}" + (f", VAE {self.latent_vae}" if self.latent_vae else "")
            return [dict(case="data", variant="", metric="latent_clips", value=len(self.latent_clips), unit="clips",
                         backend="config", status="ok", note=note)] + [
                    dict(case="data", variant=Path(p).name, metric="latent_frames", value=shape[1], unit="frames",
                         backend="safetensors", status="ok", note=f"{p}: (C, T, H, W) = {shape}")
                    for p, shape in self.latent_clips]
        if not self.sources:
            return []
        note = f"data.sources = {list(self.sources)}; checked for {self.clip} clips"
        rows = [dict(case="data", variant="", metric="clips_used", value=len(self.used), unit="videos",
                     backend="config", status="ok", note=note),
                dict(case="data", variant="", metric="clips_skipped", value=len(self.skipped), unit="videos",
                     backend="config", status="ok", note=note)]
        rows += [dict(case="data", variant=Path(path).name, metric="clip_frames", value=frames, unit="frames",
                      backend="decoded", status="ok", note=f"{path}: {frames} frames decoded at {h}x{w}")
                 for path, frames, h, w in self.used]
        rows += [dict(case="data", variant=Path(path).name, metric="clip_frames", value=None, unit="frames",
                      backend="decoded", status="skipped", note=f"{path}: {why}") for path, why in self.skipped]
        return rows


def check_run_inputs(preset: Preset, progress: bool = True) -> RunInputs:
    """Check ``data.sources`` and ``model.factory`` of a run; a ValueError (exit 2) names what cannot be used."""
    found = {}
    if preset.data_latents and preset.data_sources:
        raise ValueError("data.latents and data.sources both name training data: set one")
    if preset.data_latents:
        found.update(_check_latents(preset))
    if preset.data_sources:
        found.update(_check_videos(preset, progress))
    if preset.model_factory:
        found.update(factory=preset.model_factory, factory_params=_check_factory(preset))
    return RunInputs(**found)


def _check_videos(preset: Preset, progress: bool) -> dict:
    from pfbench.data.real import RealClips, real_sources
    from pfbench.experiments.clips import real_clip_config
    from pfbench.experiments.shapes import experiment_shape

    sources = tuple(preset.data_sources)
    for s in sources:
        if not Path(s).exists():
            raise ValueError(f"data.sources: {s} does not exist; pass video files or folders (--data DIR)")
    if not preset.trainable:
        return dict(sources=sources, notes=(f"data: {preset.name} is shape-only; data.sources is not read",))
    if not real_sources(sources):
        raise ValueError(f"data.sources: no video files under {', '.join(sources)} (looked for .mp4 .webm .avi "
                         f".mov .mkv .m4v .gif and frame folders, recursively)")
    exp = experiment_shape(preset).preset(preset)
    cfg = real_clip_config(exp, 1, 0)
    clip = f"{exp.frames} x {exp.height} x {exp.width} (stride {cfg.frame_stride})"
    try:
        ds = RealClips(cfg, progress=progress).with_split("heldout")  # usable in both splits
    except ValueError as err:
        raise ValueError(f"data.sources {', '.join(sources)}: {err}") from None
    used = tuple((str(p), int(v.shape[0]), int(v.shape[-2]), int(v.shape[-1])) for p, v in zip(ds.paths, ds.videos))
    return dict(sources=sources, used=used, skipped=tuple((str(p), why) for p, why in ds.skipped), clip=clip)


def _check_latents(preset: Preset) -> dict:
    from pfbench.data.latents import load_latent_folder

    manifest, paths, tensors = load_latent_folder(preset.data_latents)
    if manifest.channels != preset.channels:
        raise ValueError(f"data.latents {preset.data_latents}: its manifest says channels = {manifest.channels} but "
                         f"data.channels = {preset.channels}: --set data.channels={manifest.channels}")
    return dict(latents=preset.data_latents, latent_vae=manifest.vae,
                latent_clips=tuple((str(p), tuple(x.shape)) for p, x in zip(paths, tensors)))


def _check_factory(preset: Preset) -> int:
    """Build the factory's model on the meta device (no memory) and count its parameters."""
    import torch

    from pfbench.train.loop import model_for_preset

    try:
        with torch.device("meta"):
            model = model_for_preset(preset, num_classes=preset.num_classes)
    except ValueError:
        raise
    return sum(p.numel() for p in model.parameters())
