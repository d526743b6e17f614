"""`pfbench config`: print a built-in preset (or a config file, resolved) as a commented TOML file to start from,
and list every key."""
from __future__ import annotations

import argparse
from pathlib import Path

from pfbench.core.config import PRESETS, resolve_run_config
from pfbench.core.config_keys import key_help
from pfbench.core.config_toml import render


def register(subparsers) -> None:
    p = subparsers.add_parser("config", help="print a commented config file (TOML) or the list of keys",
                              description="Configs are TOML files: `pfbench config show cpu > study.toml`, edit, then "
                                          "`pfbench run --config study.toml`.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", help="show: a commented config file; keys: every key")
    show = sub.add_parser("show", help="print a preset or a config file, resolved and commented")
    show.add_argument("name", metavar="NAME|FILE", help=f"a built-in preset ({', '.join(PRESETS)}) or a TOML file")
    show.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key first")
    show.set_defaults(func=_show)
    keys = sub.add_parser("keys", help="every config key with its type and meaning")
    keys.set_defaults(func=_keys)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _show(args: argparse.Namespace) -> int:
    as_file = args.name not in PRESETS
    if as_file and not Path(args.name).is_file():
        raise ValueError(f"{args.name}: neither a built-in preset ({', '.join(PRESETS)}) nor a file")
    resolved = resolve_run_config(None if as_file else args.name, Path(args.name) if as_file else None,
                                  tuple(args.set))
    preset = resolved.preset
    print(render(preset, header=f"pfbench config: {preset.description or preset.name}\n"
                                f"run it: pfbench run --config FILE (any key: --set section.key=value)"), end="")
    return 0


def _keys(args: argparse.Namespace) -> int:
    print(key_help())
    return 0
