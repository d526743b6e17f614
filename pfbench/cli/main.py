"""The `pfbench` command: one sub-command per module in pfbench/cli/commands/.

Each command module exposes ``register(subparsers)`` that adds its parser and sets
``func=<callable(args) -> int>``. Only the module of the command asked for is imported, so `pfbench flops`
does not pay for torch-fidelity and the trainer.

Errors are one line on stderr (``pfbench CMD: error: ...``) naming the input and the fix; no
traceback unless ``--debug`` (or PFBENCH_DEBUG=1). Exit codes: pfbench.core.errors.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from pfbench.core.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

COMMANDS = ["run", "config", "sample", "train", "tokens", "flops", "eval-videos", "fid", "fvd", "report", "compare", "env"]
USER_ERRORS = (ValueError, OSError)  # refused input, unreadable/unwritable file: exit 2


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line errors (`pfbench CMD: error: argument --x: ...; see --help`) and exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)} (see `{self.prog} --help`)\n")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _requested_command(argv: list[str] | None) -> str | None:
    """The sub-command named on the command line (the first word that is not an option), if it is one of ours."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    return words[0] if words and words[0] in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only`` (a command name) just that command's module is imported, so `pfbench flops`
    does not pay for torch-fidelity and the trainer."""
    parser = OneLineParser(prog="pfbench", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in [only] if only else COMMANDS:
        module_name = "pfbench.cli.commands." + name.replace("-", "_")
        importlib.import_module(module_name).register(sub)
    for command_parser in sub.choices.values():
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help="show the Python traceback of an error")
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not print a Broken pipe error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return _one_line(err) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser(only=_requested_command(argv))
    except Exception as err:  # a command module that cannot be imported: one line, not a traceback
        if "--debug" in (sys.argv[1:] if argv is None else argv) or os.environ.get("PFBENCH_DEBUG", "") not in ("", "0"):
            raise
        print(f"pfbench: error: internal error {type(err).__name__}: {_describe(err)} while loading the commands "
              "(rerun with --debug for the traceback and report it)", file=sys.stderr)
        return EXIT_FAILED
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a refused argument (2, message already printed)
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    debug = args.debug or os.environ.get("PFBENCH_DEBUG", "") not in ("", "0")
    name = f"pfbench {args.command}"
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe (`pfbench ... | head`) shows here, inside the handler below
        return code
    except BrokenPipeError:  # the reader stopped reading: end quietly, as `head` expects
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{name}: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as err:  # user errors: one line that names input and fix
        if debug:
            raise
        print(f"{name}: error: {_describe(err)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:  # a bug: still one line, the traceback on request
        if debug:
            raise
        print(f"{name}: error: internal error {type(err).__name__}: {_describe(err)} (rerun with --debug for "
              "the traceback and report it)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
