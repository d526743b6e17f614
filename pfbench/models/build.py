"""Build a card's diffusers transformer: on meta (no memory: counting), cpu or cuda; random weights by default
(seeded), or a local diffusers ``from_pretrained`` folder (safetensors only, never the network).
"""
from __future__ import annotations

from pathlib import Path

from pfbench.accounting.arch_cards import ArchCard
from pfbench.models.base import DiffusersVelocity

INSTALL_HINT = "pip install 'diffusers>=0.42.1,<0.43' 'accelerate>=1.0,<2' (pfbench's own requirements)"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def require_diffusers():
    """The diffusers module, or an ImportError saying how to install it."""
    try:
        import diffusers
    except ImportError:
        raise ImportError(f"the diffusers package is not installed: {INSTALL_HINT}") from None
    return diffusers


def diffusers_spec(card: ArchCard) -> tuple[str, dict]:
    """(class name, config) of the card's diffusers transformer; a ValueError when the card has none."""
    if not card.diffusers:
        why = card.citation("diffusers") or "the card names no diffusers class"
        raise ValueError(f"--arch {card.name}: no diffusers transformer for this card ({why})")
    return card.diffusers["class"], dict(card.diffusers.get("config", {}))


def check_weights_dir(path: str | Path, class_name: str) -> Path:
    """A diffusers model folder of ``class_name`` holding safetensors only; ValueError naming the file otherwise."""
    import json
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"--weights {path}: not a folder; give a diffusers model folder (config.json + "
                         f"*.safetensors, as save_pretrained writes)")
    pickles = sorted(p for p in folder.rglob("*") if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ValueError(f"--weights {path}: {pickles[0]} is a pickle file, which pfbench never loads (it can run "
                         f"code); convert it to safetensors and remove it")
    config = folder / "config.json"
    if not config.is_file():
        raise ValueError(f"--weights {path}: no config.json; give the transformer's own folder (e.g. "
                         f"<pipeline>/transformer)")
    try:
        name = json.loads(config.read_text()).get("_class_name")
    except json.JSONDecodeError as err:
        raise ValueError(f"--weights {config}: not valid JSON ({err})") from None
    if name != class_name:
        raise ValueError(f"--weights {config}: _class_name is {name!r}, but this card's family is {class_name!r}; "
                         f"give a {class_name} folder or another --arch")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"--weights {path}: no *.safetensors file next to config.json")
    return folder


def reduced_config(card: ArchCard, layers: int = 2, heads: int = 2, head_dim: int = 16, text_dim: int = 32) -> dict:
    """The card's diffusers config at fewer layers, fewer and narrower heads and a narrower text input."""
    from pfbench.models.families import adapter_class
    class_name, config = diffusers_spec(card)
    return adapter_class(class_name).reduce(config, layers, heads, head_dim, text_dim)


def build_transformer(class_name: str, config: dict, device="cpu", dtype=None, seed: int = 0,
                      weights: str | Path | None = None):
    """The diffusers module: random init under ``seed`` (meta: no init at all), or loaded from ``weights``."""
    import torch
    diffusers = require_diffusers()
    cls = getattr(diffusers, class_name)
    if weights is not None:
        folder = check_weights_dir(weights, class_name)
        model = cls.from_pretrained(folder, local_files_only=True, use_safetensors=True, torch_dtype=dtype)
        return model.to(device).eval()
    dev = torch.device(device)
    if dev.type == "meta":
        with torch.device("meta"):
            model = cls(**config)
    else:   # initialised on the device itself (a 13B model is not built on the host first), seeded there
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else [], device_type=dev.type), dev:
            torch.manual_seed(seed)
            model = cls(**config)
    return (model.to(dtype) if dtype is not None else model).eval()


def build_adapter(card: ArchCard, device="cpu", dtype=None, seed: int = 0, weights=None, config: dict | None = None,
                  text_tokens: int | None = None, text: str = "zeros") -> DiffusersVelocity:
    """The card's transformer behind the velocity protocol. ``config`` replaces the card's (a reduced one);
    ``text_tokens`` defaults to the card's text length."""
    from pfbench.models.families import adapter_class
    class_name, card_config = diffusers_spec(card)
    cls = adapter_class(class_name)
    module = build_transformer(class_name, card_config if config is None else config, device, dtype, seed, weights)
    return cls(module, card.text_tokens if text_tokens is None else text_tokens, text=text, seed=seed,
               vae=(card.vae_temporal, card.vae_spatial))
