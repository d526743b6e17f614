"""`pfbench env`: print the environment manifest a run records in env.json (versions, device, flags)."""
from __future__ import annotations

import argparse
import json

from pfbench.cli.args import device, dtype


def register(subparsers) -> None:
    p = subparsers.add_parser("env", help="print the environment manifest (versions, device, flags) as JSON")
    p.add_argument("--device", default="cpu", type=device, help="device to describe (cpu, cuda, cuda:1)")
    p.add_argument("--dtype", default="float32", type=dtype, help="dtype whose peak FLOP/s to look up (float32, bfloat16)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pfbench.runner.manifest import environment_manifest

    print(json.dumps(environment_manifest(args.device, args.dtype), indent=2, default=str))
    return 0
