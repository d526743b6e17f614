"""The `pfbench` command: one sub-command per module in pfbench/commands/.

Each command module exposes ``register(subparsers)`` that adds its parser and sets
``func=<callable(args) -> int>``. Modules are imported lazily by name so that a command whose
optional dependencies are missing cannot break the others.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["run", "sample", "train", "tokens", "flops", "eval-videos", "fid", "report", "compare", "env"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pfbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module_name = "pfbench.commands." + name.replace("-", "_")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:  # user errors: one line that names input and fix
        print(f"pfbench {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
