"""tools/gpu_proof.py: the summary reads a run's results.csv and marks the MFU targets; check lists modules."""
import csv
import importlib.util
import json
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "gpu_proof.py"
spec = importlib.util.spec_from_file_location("gpu_proof", TOOL)
gpu_proof = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_proof)


def _write_run(run: Path, rows: list[dict]) -> None:
    run.mkdir(parents=True)
    with open(run / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["case", "variant", "metric", "value"])
        w.writeheader()
        w.writerows(rows)


def test_summary_marks_targets_and_reads_the_matmul_ceiling(tmp_path):
    run = tmp_path / "runs" / "gpu"
    _write_run(run, [
        dict(case="train_step", variant="full_sequence", metric="mfu", value=0.47),
        dict(case="train_step", variant="full_sequence", metric="tokens_per_s", value=80000),
        dict(case="train_step", variant="pyramid_ar", metric="mfu", value=0.30),
        dict(case="train_step_interleaved", variant="pyramid_ar", metric="speedup_ratio", value=0.93),
    ])
    (run / "profile").mkdir()
    (run / "profile" / "train_step-pyramid_ar.md").write_text("### table\n| attention | 1 | 10% |\n")
    (tmp_path / "matmul.json").write_text(json.dumps(dict(n=8192, device="NVIDIA H200", tflops=791.0,
                                                          torch="2.14", cuda="13.0")))
    text = gpu_proof.summarize(tmp_path, [run, tmp_path / "runs" / "missing"])
    assert "791 TFLOP/s" in text and "| full_sequence |" in text
    assert "47.0% | >= 45% (met)" in text and "30.0% | >= 35% (NOT met) | 0.93" in text
    assert "| attention | 1 | 10% |" in text and "no results.csv" in text
    assert (tmp_path / "summary.md").read_text() == text
    cpu = tmp_path / "runs" / "cpu"
    _write_run(cpu, [dict(case="train_step", variant="pyramid_ar", metric="time_s", value=1.0)])
    assert ">= 35% (no MFU (device peak unknown))" in gpu_proof.summarize(tmp_path, [cpu])


def test_check_lists_only_missing_distributions(capsys, monkeypatch):
    monkeypatch.setattr(gpu_proof, "HARNESS_MODULES", {"json": "json-dist", "no_such_module_xyz": "xyz-dist"})
    assert gpu_proof.check() == 0
    assert capsys.readouterr().out.split() == ["xyz-dist"]
