"""`pfbench tokens` / `flops` use the preset's own stages and stage mix unless --stages / --stage-mix are given."""
from __future__ import annotations

import json

import pytest

from pfbench.cli.main import main
from pfbench.core.config import PRESETS


@pytest.fixture
def two_stage_smoke(monkeypatch):
    monkeypatch.setitem(PRESETS, "smoke", PRESETS["smoke"].replace(stages=2, stage_mix=(1.0, 3.0)))


def report(capsys, *argv) -> dict:
    assert main([*argv, "--json", "--no-counted"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("command", ["tokens", "flops"])
def test_the_presets_own_stages_and_mix(two_stage_smoke, capsys, command):
    got = report(capsys, command, "--preset", "smoke")
    assert (got["stages"], got["stage_mix"]) == (2, [1.0, 3.0])


@pytest.mark.parametrize("command", ["tokens", "flops"])
def test_given_stages_and_mix_win(two_stage_smoke, capsys, command):
    got = report(capsys, command, "--preset", "smoke", "--stages", "3", "--stage-mix", "uniform")
    assert (got["stages"], got["stage_mix"]) == (3, "uniform")


def test_without_a_preset_the_public_codes_defaults(capsys):
    got = report(capsys, "tokens", "--resolution", "384p", "--seconds", "1")
    assert (got["stages"], got["stage_mix"]) == (3, "1:2:1")
