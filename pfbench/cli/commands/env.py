"""`pfbench env`: print the environment manifest a run records in env.json (versions, device, flags), the
versions of every metric package, and which weight-based metrics can run here (offline)."""
from __future__ import annotations

import argparse
import json

from pfbench.cli.args import device, dtype


def register(subparsers) -> None:
    p = subparsers.add_parser("env", help="print the environment manifest, metric package versions and which "
                                          "weight-based metrics can run here, as JSON")
    p.add_argument("--device", default="cpu", type=device, help="device to describe (cpu, cuda, cuda:1)")
    p.add_argument("--dtype", default="float32", type=dtype, help="dtype whose peak FLOP/s to look up (float32, bfloat16)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pfbench.metrics.availability import weight_metrics
    from pfbench.runner.manifest import METRIC_PACKAGES, environment_manifest, package_versions

    manifest = environment_manifest(args.device, args.dtype)
    versions = package_versions()
    manifest["metric_packages"] = {name: versions.get(name) for name in METRIC_PACKAGES}
    manifest["weight_metrics"] = weight_metrics()
    print(json.dumps(manifest, indent=2, default=str))
    return 0
