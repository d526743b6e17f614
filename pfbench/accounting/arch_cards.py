"""Architecture cards: the shape of a public video DiT as data, every number with its public source.

A card (``pfbench/accounting/cards/<name>.json``) describes a backbone well enough to count its FLOPs and parameters
at any video size: width, heads, FFN, patch, latent channels, the VAE's compression, how text enters
(none; cross-attention to N text tokens; joint attention with N text tokens, with its own weights per
stream ("dual") or shared ("single")), how adaLN modulation is computed, and which diffusers class (with its
config) implements it. Every field is
``{"value": ..., "source": <key of "sources">, "key": <name in that source>}``; a value not found in
public material is ``null`` with a ``note``, never a guess. pfbench's own presets are cards too, built
from ``pfbench.core.config`` (``pfbench-<preset>``) so their numbers keep one source of truth.

``card_dit_config`` builds reference_model's backbone at a card's width/heads/FFN/patch (depth
reducible), so the throughput and memory suites can measure it and FlopCounterMode can check the count.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

TEXT_MODES = ("none", "cross", "dual", "single")
TRAINING_LAYOUTS = ("full_sequence", "pyramid_ar")
REQUIRED = ("hidden_size", "num_heads", "ffn_hidden", "ffn_gated", "patch_t", "patch_h", "patch_w",
            "latent_channels", "vae_temporal", "vae_spatial", "vae_causal", "blocks", "time_freq_dim",
            "time_dim", "shared_modulation", "final_modulation", "native_frames", "native_height",
            "native_width", "native_steps", "training")
OPTIONAL = {"text_tokens": 0, "text_dim": 0, "text_projection": (), "text_refiner_blocks": 0,
            "published_params": None, "native_steps_later_frames": None, "diffusers": None,
            "text_hidden_size": 0, "text_ffn_hidden": 0, "text_last_block_pre_only": False}


@dataclass(frozen=True)
class BlockGroup:
    """``count`` identical transformer blocks. text: none | cross | dual | single (see module doc);
    modulation: adaLN outputs per block in units of D, computed per sample from the time embedding."""

    count: int
    text: str = "none"
    modulation: int = 6


@dataclass(frozen=True)
class ArchCard:
    """A backbone's shape. Sizes are in latent units; video sizes on the command line are pixels."""

    name: str
    hidden_size: int
    num_heads: int
    ffn_hidden: int
    ffn_gated: bool                 # SwiGLU-style: three FFN matrices instead of two
    patch_t: int
    patch_h: int
    patch_w: int
    latent_channels: int
    vae_temporal: int
    vae_spatial: int
    vae_causal: bool                # first frame kept: F pixel frames -> 1 + (F - 1) / t latent frames
    blocks: tuple[BlockGroup, ...]
    time_freq_dim: int              # sinusoidal features fed to the time MLP
    time_dim: int                   # width of the time embedding that drives modulation
    shared_modulation: int          # one Linear(time_dim, m * D) shared by all blocks (0 if per block)
    final_modulation: int           # adaLN outputs of the final layer in units of D
    native_frames: int              # pixel frames of the model's default video
    native_height: int
    native_width: int
    native_steps: int
    training: str                   # full_sequence | pyramid_ar: the layout the model was trained with
    text_tokens: int = 0
    text_dim: int = 0               # text-encoder width
    text_projection: tuple[tuple[int, int], ...] = ()   # linears (in, out) applied to text tokens once
    text_refiner_blocks: int = 0    # full transformer blocks over the text tokens alone (HunyuanVideo)
    text_hidden_size: int = 0       # width of a dual block's text stream (0: hidden_size; Mochi: narrower)
    text_ffn_hidden: int = 0        # its FFN width (0: ffn_hidden)
    text_last_block_pre_only: bool = False  # the last dual block has no text output projection / text FFN
    published_params: float | None = None
    native_steps_later_frames: int | None = None
    # {"class": diffusers class name, "config": its keyword arguments}: the field's implementation (pfbench/models)
    diffusers: dict | None = field(default=None, compare=False, hash=False)
    description: str = ""
    sources: dict = field(default_factory=dict, compare=False, hash=False)
    citations: dict = field(default_factory=dict, compare=False, hash=False)
    notes: tuple[str, ...] = ()
    path: str = ""

    @property
    def depth(self) -> int:
        return sum(g.count for g in self.blocks)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def text_mode(self) -> str:
        modes = {g.text for g in self.blocks} - {"none"}
        return "none" if not modes else "+".join(sorted(modes))

    def with_depth(self, depth: int) -> "ArchCard":
        """The same card with ``depth`` blocks (the first group's kind), e.g. for a cheap measurement."""
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        return replace(self, name=f"{self.name}@depth{depth}", blocks=(replace(self.blocks[0], count=depth),))

    def citation(self, name: str) -> str:
        """'value (source key)' for a field, for reports."""
        return self.citations.get(name, self.citations.get("*", ""))


def _card_error(path, message: str) -> ValueError:
    return ValueError(f"architecture card {path}: {message}")


def _value(raw: dict, name: str, path, sources: dict):
    entry = raw[name]
    if not isinstance(entry, dict) or "value" not in entry:
        raise _card_error(path, f"field {name!r} must be {{\"value\": ..., \"source\": ...}}")
    source = entry.get("source")
    if source not in sources and source not in ("derived", "unknown"):
        raise _card_error(path, f"field {name!r} cites source {source!r}, which is not in \"sources\" "
                                f"(known: {', '.join(sources)}); add it there")
    if entry["value"] is None and not entry.get("note"):
        raise _card_error(path, f"field {name!r} is null without a \"note\" saying why")
    if source == "derived" and not entry.get("key"):
        raise _card_error(path, f"derived field {name!r} needs a \"key\" giving the derivation")
    return entry["value"], f"{sources.get(source, source)}{' :: ' + entry['key'] if entry.get('key') else ''}"


def parse_card(data: dict, path: str = "<dict>") -> ArchCard:
    """Validate a card's JSON object and build the ArchCard; errors name the card and the field."""
    if not isinstance(data, dict) or "name" not in data or "fields" not in data:
        raise _card_error(path, "expected a JSON object with \"name\", \"sources\" and \"fields\"")
    sources, raw = data.get("sources", {}), data["fields"]
    missing = [n for n in REQUIRED if n not in raw]
    unknown = [n for n in raw if n not in REQUIRED and n not in OPTIONAL]
    if missing or unknown:
        raise _card_error(path, f"missing fields {missing}, unknown fields {unknown}")
    values, citations = dict(OPTIONAL), {}
    for name in raw:
        values[name], citations[name] = _value(raw, name, path, sources)
    for name in REQUIRED:
        if values[name] is None:
            raise _card_error(path, f"required field {name!r} is null")
    try:
        blocks = tuple(BlockGroup(**g) for g in values.pop("blocks"))
    except TypeError as err:
        raise _card_error(path, f"blocks: {err}") from None
    for g in blocks:
        if g.text not in TEXT_MODES or g.count < 1:
            raise _card_error(path, f"block group {g}: text must be one of {TEXT_MODES}, count >= 1")
    if values["training"] not in TRAINING_LAYOUTS:
        raise _card_error(path, f"training must be one of {TRAINING_LAYOUTS}, got {values['training']!r}")
    values["text_projection"] = tuple(tuple(p) for p in values["text_projection"] or ())
    spec = values["diffusers"]
    if spec is not None and not (isinstance(spec, dict) and isinstance(spec.get("class"), str)
                                 and isinstance(spec.get("config", {}), dict)):
        raise _card_error(path, "diffusers must be {\"class\": <diffusers class name>, \"config\": {<its keyword "
                                "arguments>}} or null with a note")
    card = ArchCard(name=data["name"], blocks=blocks, description=data.get("description", ""), sources=sources,
                    citations=citations, notes=tuple(data.get("notes", ())), path=str(path), **values)
    if card.hidden_size % card.num_heads:
        raise _card_error(path, f"hidden_size {card.hidden_size} is not divisible by num_heads {card.num_heads}")
    if any(g.text != "none" for g in blocks) and not card.text_tokens:
        raise _card_error(path, "blocks attend to text but text_tokens is 0")
    return card


def _shipped_dir():
    return resources.files("pfbench.accounting") / "cards"


def shipped_card_names() -> list[str]:
    """Names of the cards shipped in the package (data files) and of pfbench's presets."""
    from pfbench.core.config import PRESETS
    files = sorted(p.name[:-5] for p in _shipped_dir().iterdir() if p.name.endswith(".json"))
    return files + [f"pfbench-{name}" for name in PRESETS]


def preset_card(preset_name: str) -> ArchCard:
    """pfbench's own preset as a card (latent units: no VAE, text-free, class-label adaLN like the backbone)."""
    from pfbench.core.config import get_preset
    from reference_model.dit import dit_config
    preset = get_preset(preset_name)
    cfg = dit_config(preset.model, in_channels=preset.channels, patch_size=preset.patch_size)
    src = f"pfbench/core/config.py PRESETS[{preset.name!r}] + reference_model/dit.py DIT_PRESETS[{preset.model!r}]"
    video = preset.video
    steps = sum(preset.steps_first_frame)
    return ArchCard(
        name=f"pfbench-{preset.name}", hidden_size=cfg.hidden_size, num_heads=cfg.num_heads,
        ffn_hidden=cfg.mlp_hidden, ffn_gated=False, patch_t=1, patch_h=cfg.patch_size, patch_w=cfg.patch_size,
        latent_channels=cfg.in_channels, vae_temporal=video.vae_temporal if video else 1,
        vae_spatial=video.vae_spatial if video else 1, vae_causal=bool(video),
        blocks=(BlockGroup(cfg.depth, "none", 6),), time_freq_dim=256, time_dim=cfg.hidden_size,
        shared_modulation=0, final_modulation=2,
        native_frames=video.pixel_frames if video else preset.frames,
        native_height=video.height if video else preset.height, native_width=video.width if video else preset.width,
        native_steps=steps, native_steps_later_frames=sum(preset.steps_later_frames), training="pyramid_ar",
        description=preset.description, sources={"preset": src}, citations={"*": src},
        notes=("pfbench's own backbone: unconditional (null class label), no text tokens",
               "video sizes are latent sizes unless the preset describes a pixel video"),
    )


def load_card(name_or_path: str) -> ArchCard:
    """A shipped card by name (``wan2.1-t2v-1.3b``, ``pfbench-cpu``), or a JSON file path."""
    if name_or_path.startswith("pfbench-"):
        return preset_card(name_or_path[len("pfbench-"):])
    path = Path(name_or_path)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise ValueError(f"--arch {name_or_path}: no such card file; give a shipped name "
                             f"({', '.join(shipped_card_names())}) or an existing .json path")
        text, where = path.read_text(), str(path)
    else:
        entry = _shipped_dir() / f"{name_or_path}.json"
        if not entry.is_file():
            raise ValueError(f"unknown architecture {name_or_path!r}: choose one of "
                             f"{', '.join(shipped_card_names())} or give a card .json path")
        text, where = entry.read_text(), f"pfbench/accounting/cards/{name_or_path}.json"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise _card_error(where, f"not valid JSON ({err}); fix the file") from None
    return parse_card(data, where)


def all_cards() -> list[ArchCard]:
    return [load_card(name) for name in shipped_card_names()]


# --------------------------------------------------------------------------------------------------
# The reference backbone at a card's shape
# --------------------------------------------------------------------------------------------------
def backbone_gaps(card: ArchCard) -> list[str]:
    """What reference_model's DiT does not model of this card (its FLOPs are then the card's text-free twin)."""
    gaps = []
    if card.text_mode != "none":
        gaps.append(f"text conditioning ({card.text_mode} attention with {card.text_tokens} tokens)")
    if card.ffn_gated:
        gaps.append("gated FFN")
    if card.patch_t != 1 or card.patch_h != card.patch_w:
        gaps.append(f"patch {card.patch_t}x{card.patch_h}x{card.patch_w} (backbone: 1 x p x p)")
    if card.shared_modulation or any(g.modulation != 6 for g in card.blocks) or card.final_modulation != 2:
        gaps.append("modulation layout (backbone: Linear(D, 6D) per block, Linear(D, 2D) final)")
    if card.time_dim != card.hidden_size or card.time_freq_dim != 256:
        gaps.append("time-embedding widths")
    return gaps


def backbone_card(card: ArchCard) -> ArchCard:
    """The card as reference_model's DiT builds it: same width/heads/FFN/patch/depth, nothing it lacks."""
    return replace(card, name=f"{card.name}/backbone", ffn_gated=False, patch_t=1, patch_w=card.patch_h,
                   blocks=(BlockGroup(card.depth, "none", 6),), time_freq_dim=256, time_dim=card.hidden_size,
                   shared_modulation=0, final_modulation=2, text_tokens=0, text_dim=0, text_projection=(),
                   text_refiner_blocks=0)


def card_dit_config(card: ArchCard, depth: int | None = None, **overrides):
    """reference_model DiTConfig at the card's shape; ``depth`` reduces the number of blocks."""
    from reference_model.dit import DiTConfig
    return DiTConfig(in_channels=card.latent_channels, patch_size=card.patch_h, hidden_size=card.hidden_size,
                     depth=depth or card.depth, num_heads=card.num_heads,
                     mlp_ratio=(card.ffn_hidden + 0.5) / card.hidden_size, **overrides)


def build_card_model(card: ArchCard, depth: int | None = None, device=None, **overrides):
    """The reference DiT at the card's shape, on ``device`` ('meta' builds it without memory)."""
    import torch

    from reference_model.dit import DiT
    with torch.device(device or "cpu"):
        return DiT(card_dit_config(card, depth, **overrides))
