"""No load path runs code from a file: crafted pickles are refused with a one-line error, the marker never appears."""
import os
import pickle

import pytest
import torch

from pfbench.cli.main import main
from pfbench.train.checkpoint import CHECKPOINT_FORMAT, load_checkpoint


class _Evil:
    """Unpickling this calls os.system('touch MARKER'): what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_files(tmp_path, marker):
    """The same payload as a torch.save zip file and as a legacy raw pickle."""
    zipped, raw = tmp_path / "evil_zip.pt", tmp_path / "evil_raw.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "state_dict": _Evil(marker)}, zipped)
    raw.write_bytes(pickle.dumps({"format": CHECKPOINT_FORMAT, "state_dict": _Evil(marker)}, protocol=2))
    return [zipped, raw]


def test_the_payload_is_live(tmp_path):
    """Guard against a test that cannot fail: an unsafe load of these files does run the command."""
    marker = tmp_path / "live"
    for f in _evil_files(tmp_path, marker):
        marker.unlink(missing_ok=True)
        try:
            torch.load(f, weights_only=False)
        except RuntimeError:  # the raw pickle is no torch file: refused, but only after it ran
            pass
        assert marker.exists()


def _one_line_refusal(text: str, path) -> None:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert str(path) in lines[0] and "refused" in lines[0] and "weights_only=True" in lines[0]


def test_sample_checkpoint_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "pwned"
    for f in _evil_files(tmp_path, marker):
        assert main(["sample", "--checkpoint", str(f), "--out", str(tmp_path / "x.gif")]) == 2
        _one_line_refusal(capsys.readouterr().err, f)
    assert not marker.exists()


def test_train_resume_from_malicious_last_pt_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    for f in _evil_files(tmp_path, marker):
        (run / "last.pt").write_bytes(f.read_bytes())
        assert main(["train", "--preset", "smoke", "--steps", "2", "--out", str(run)]) == 2
        _one_line_refusal(capsys.readouterr().err, run / "last.pt")
        # the sample command given the run folder reads the same last.pt
        assert main(["sample", "--checkpoint", str(run), "--out", str(tmp_path / "x.gif")]) == 2
        _one_line_refusal(capsys.readouterr().err, run / "last.pt")
    assert not marker.exists()


def test_every_other_loader_runs_nothing(tmp_path):
    from pfbench.core.safe_load import safe_torch_load
    from pfbench.metrics.encoders import load_aesthetic_head
    from pfbench.metrics.vbench.flow import load_raft

    marker = tmp_path / "pwned"
    for f in _evil_files(tmp_path, marker):
        for load in (load_checkpoint, safe_torch_load, lambda p: load_raft(p, "raft_small")):
            with pytest.raises(ValueError, match="refused") as err:
                load(f)
            assert "\n" not in str(err.value)
        weights = tmp_path / f"weights-{f.stem}" / "laion-aesthetic"
        weights.mkdir(parents=True)
        (weights / "sa_0_4_vit_l_14_linear.pth").write_bytes(f.read_bytes())
        with pytest.raises(ValueError, match="refused"):
            load_aesthetic_head(weights.parent)
    assert not marker.exists()


def test_no_unsafe_torch_load_in_the_sources():
    """Every torch.load call in pfbench/ passes weights_only=True (most go through safe_torch_load)."""
    import pathlib
    import re

    import pfbench

    root = pathlib.Path(pfbench.__file__).parent
    calls = [(p.name, m.group(0)) for p in root.rglob("*.py")
             for m in re.finditer(r"(?<![`\w])torch\.load\([^)]*\)", p.read_text())]
    assert calls and all("weights_only=True" in call for _, call in calls), calls
    assert not [p for p in root.rglob("*.py") if re.search(r"weights_only\s*=\s*False", p.read_text())]
    assert not [p for p in root.rglob("*.py") if re.search(r"\bpickle\.loads?\(", p.read_text())]
