"""`pfbench train`: train a variant on the procedural clips and write a checkpoint."""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from pfbench.config import get_preset
from pfbench.train import TrainConfig, train
from reference_model.variants import VARIANTS


def register(sub) -> None:
    p = sub.add_parser("train", help="train a variant on the embedded procedural video set")
    p.add_argument("--variant", default="pyramid_ar", help=f"one of {', '.join(VARIANTS)}")
    p.add_argument("--preset", default="smoke")
    p.add_argument("--steps", type=int, default=None, help="default: the preset's train_steps")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. ckpt.pt)")
    p.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    preset = get_preset(args.preset)
    if not preset.trainable:
        raise ValueError(f"preset {preset.name} is shape-only (paper sizes); train with smoke, cpu or gpu")
    out = Path(args.out)
    if out.exists() and not args.resume:
        raise ValueError(f"{out} exists: pass --resume to continue it or choose another --out (never overwritten)")
    cfg = TrainConfig(variant=args.variant, steps=args.steps or preset.train_steps,
                      batch_size=args.batch_size or preset.batch_size, lr=args.lr, seed=args.seed,
                      num_stages=preset.stages)
    bar = tqdm(total=cfg.steps, desc=f"train {cfg.variant}", unit="step")
    result = train(cfg, preset, device=args.device, checkpoint=out, resume=args.resume,
                   callback=lambda step, loss, model: (bar.update(1), bar.set_postfix(loss=f"{loss:.4f}")))
    bar.close()
    if result.losses:
        print(f"trained {cfg.variant} to step {result.step}: loss {result.losses[0]:.4f} -> {result.losses[-1]:.4f}")
    print(f"wrote {result.checkpoint}")
    return 0
