"""Every option of every `pfbench` sub-command has a help line that says what it does: no option without help,
no "default" said twice (ArgumentDefaultsHelpFormatter adds one), and no metavar that names another option."""
from __future__ import annotations

import argparse
import re

import pytest

from pfbench.cli.main import COMMANDS, build_parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


PARSERS = _subparsers(build_parser())


def _options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction) and a.help is not argparse.SUPPRESS]


def _name(option: str) -> str:
    return option.lstrip("-").upper().replace("-", "_")


def _problems(name: str, parser: argparse.ArgumentParser) -> list[str]:
    """What is wrong with one sub-parser's help, one line per option."""
    problems = []
    names = {_name(s) for a in _options(parser) for s in a.option_strings}
    text = parser.format_help()
    for action in _options(parser):
        label = "/".join(action.option_strings) or action.dest
        if not (action.help or "").strip():
            problems.append(f"{name} {label}: no help line")
            continue
        helped = parser._get_formatter()._expand_help(action) if action.help else ""
        if len(re.findall(r"\bdefault\b", helped.lower())) > 1:
            problems.append(f"{name} {label}: says 'default' twice: {helped!r}")
        metavar = action.metavar if isinstance(action.metavar, str) else None
        shown = (metavar or action.dest.upper()).upper().replace("-", "_")
        primary = _name(action.option_strings[0]) if action.option_strings else None
        if action.option_strings and action.nargs != 0 and shown != primary and shown in names:
            problems.append(f"{name} {label}: metavar {shown} names another option")
    if not text.strip():
        problems.append(f"{name}: empty help")
    return problems


def test_every_command_is_walked():
    assert set(PARSERS) == set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_one_help_line(name):
    assert _problems(name, PARSERS[name]) == []


def test_the_walk_catches_each_kind_of_fault():
    """The checks fail on a parser with each fault (the walk is not vacuous)."""
    bad = argparse.ArgumentParser(prog="bad", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bad.add_argument("--seed", type=int, default=0)
    bad.add_argument("--device", default="cpu", help="where it runs (default: cpu)")
    bad.add_argument("--resamples", "--bootstrap", dest="bootstrap", type=int, default=100, help="resamples")
    found = _problems("bad", bad)
    assert any("--seed: no help line" in p for p in found)
    assert any("--device: says 'default' twice" in p for p in found)
    assert any("--resamples/--bootstrap: metavar BOOTSTRAP names another option" in p for p in found), found
