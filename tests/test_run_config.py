"""The resolved config travels: every suite reads the run's config.json (not a preset name), so `--resume` measures
with the stored preset and the environment overrides recorded when the run started."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pfbench.cli.main import main
from pfbench.core.config import apply_overrides, env_overrides, get_preset, preset_from_dict, suite_config

REAL_CONFTEST = Path(__file__).resolve().parents[1] / "suites" / "conftest.py"
SUITE = '''
import json
from pathlib import Path

def test_sees_the_run_config(pf_config, pf_preset, pf_record):
    pf_record([dict(case="seen", variant="", metric="train_steps", value=pf_preset.train_steps, unit="steps"),
               dict(case="seen", variant="", metric="memory_budget_gib", value=pf_preset.memory_budget_gib,
                    unit="GiB", note=json.dumps(pf_config["overrides"]))])
    flag = Path(__file__).parent / "fail_once"
    if flag.exists():
        flag.unlink()
        raise RuntimeError("planted: fails once")
'''


def seen(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "rows" / "tokens.jsonl").read_text().splitlines()]
    return {r["metric"]: (r["value"], r.get("note", "")) for r in rows}


@pytest.fixture
def suites(tmp_path) -> Path:
    folder = tmp_path / "repo" / "suites"
    folder.mkdir(parents=True)
    shutil.copy(REAL_CONFTEST, folder / "conftest.py")  # the real conftest: the contract under test
    (folder / "test_tokens.py").write_text(SUITE)
    (folder / "fail_once").write_text("")
    return folder


def test_resume_uses_the_stored_config_and_overrides(tmp_path, suites, monkeypatch, capsys):
    run = tmp_path / "run"
    monkeypatch.setenv("PFBENCH_MEMORY_BUDGET_GIB", "0.25")
    args = ["run", "--preset", "smoke", "--suites", "tokens", "--out", str(run), "--suites-dir", str(suites),
            "--no-report"]
    assert main(args) == 1  # the planted failure
    config = json.loads((run / "config.json").read_text())
    assert config["overrides"] == {"memory_budget_gib": 0.25} and config["preset"]["memory_budget_gib"] == 0.25
    assert seen(run)["memory_budget_gib"] == (0.25, '{"memory_budget_gib": 0.25}')
    assert "memory_budget_gib=0.25 from $PFBENCH_MEMORY_BUDGET_GIB" in capsys.readouterr().out

    # today's smoke preset has train_steps=4; the stored config says 77: the resumed suite must see 77
    config["preset"]["train_steps"] = 77
    (run / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("PFBENCH_MEMORY_BUDGET_GIB", "0.5")
    assert main(["run", "--resume", str(run), "--no-report"]) == 2  # a disagreeing override is refused
    assert "unset $PFBENCH_MEMORY_BUDGET_GIB" in capsys.readouterr().err
    monkeypatch.delenv("PFBENCH_MEMORY_BUDGET_GIB")
    assert main(["run", "--resume", str(run), "--no-report"]) == 0
    assert seen(run)["train_steps"][0] == 77 and get_preset("smoke").train_steps == 4
    assert seen(run)["memory_budget_gib"][0] == 0.25  # the override travelled with the config, not the env


def test_suite_config_by_hand_and_from_a_file(tmp_path):
    by_hand = suite_config(None, "smoke", {"PFBENCH_MEMORY_BUDGET_GIB": "0.5"})
    assert by_hand["overrides"] == {"memory_budget_gib": 0.5}
    assert preset_from_dict(by_hand["preset"]) == get_preset("smoke").replace(memory_budget_gib=0.5)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"preset": get_preset("paper-384p-5s").to_dict()}))
    stored = suite_config(str(path), "smoke", {"PFBENCH_MEMORY_BUDGET_GIB": "9"})  # the file wins over both
    assert preset_from_dict(stored["preset"]) == get_preset("paper-384p-5s") and stored["overrides"] == {}
    with pytest.raises(ValueError, match="cannot read the run's config.json"):
        suite_config(str(tmp_path / "missing.json"), "smoke", {})


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "inf", "nan"])
def test_bad_override_is_one_line_naming_the_variable(raw):
    with pytest.raises(ValueError, match="PFBENCH_MEMORY_BUDGET_GIB=.*positive number"):
        env_overrides({"PFBENCH_MEMORY_BUDGET_GIB": raw})
    with pytest.raises(ValueError, match="PFBENCH_AR_WINDOW=.*positive whole number"):
        env_overrides({"PFBENCH_AR_WINDOW": raw if raw != "inf" else "1.5"})
    if raw != "0":  # fid.budget_s = 0 means "the scale's budget"
        with pytest.raises(ValueError, match="PFBENCH_FID_BUDGET_S=.*positive number"):
            env_overrides({"PFBENCH_FID_BUDGET_S": raw})


def test_the_ar_window_is_a_config_key_and_an_old_config_json_still_reads(tmp_path):
    got = suite_config(None, "smoke", {"PFBENCH_AR_WINDOW": "3"})
    assert got["overrides"] == {"ar_window": 3} and preset_from_dict(got["preset"]).ar_window == 3
    old = {k: v for k, v in get_preset("smoke").to_dict().items() if k != "ar_window"}  # before it was a key
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"preset": old, "overrides": {"ar_window": 4}}))
    assert preset_from_dict(suite_config(str(path), "smoke", {})["preset"]).ar_window == 4


def test_preset_roundtrip_and_unknown_field_refused():
    for name in ("smoke", "paper-768p-10s"):
        preset = get_preset(name)
        assert preset_from_dict(json.loads(json.dumps(preset.to_dict()))) == preset
    assert apply_overrides(get_preset("cpu"), {}) is get_preset("cpu")
    with pytest.raises(ValueError, match="unknown field"):
        preset_from_dict({**get_preset("smoke").to_dict(), "warp_factor": 9})


def test_resume_refuses_an_override_the_run_did_not_start_with(tmp_path, monkeypatch):
    from pfbench.cli.commands.run import _check_stored_overrides
    from pfbench.runner.folder import RunSpec

    def spec(**overrides):
        return RunSpec(run_dir=tmp_path, run_id="x", preset=get_preset("smoke"), suites=("ar_per_frame",),
                              device="cpu", suites_dir=tmp_path, overrides=overrides)

    monkeypatch.setenv("PFBENCH_AR_WINDOW", "3")
    with pytest.raises(ValueError, match="PFBENCH_AR_WINDOW=3 but the run was started with ar_window=2"):
        _check_stored_overrides(spec())
    _check_stored_overrides(spec(ar_window=3))  # the same value: fine
