"""The suite launcher: a forked pytest child writes its log and exit code like a fresh interpreter would, and a
timeout stops it."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, os, subprocess, sys, threading
    from pathlib import Path
    from pfbench.runner.launch import can_fork, start_suite
    assert can_fork() and threading.active_count() == 1
    here = Path(sys.argv[1])
    (here / "test_ok.py").write_text("import os\\ndef test_env():\\n    assert os.environ['PF_X'] == '1'\\n")
    (here / "test_bad.py").write_text("def test_bad():\\n    assert 1 == 2, 'planted'\\n")
    (here / "test_slow.py").write_text("import time\\ndef test_slow():\\n    time.sleep(60)\\n")
    env = {**os.environ, "PF_X": "1"}
    codes = {}
    for name in ("ok", "bad"):
        with open(here / f"{name}.log", "w") as log:
            proc = start_suite([sys.executable, "-m", "pytest", str(here / f"test_{name}.py"), "-q", "-p",
                                "no:cacheprovider"], here, env, log, fork=True)
            codes[name] = proc.wait(timeout=120)
    with open(here / "slow.log", "w") as log:
        proc = start_suite([sys.executable, "-m", "pytest", str(here / "test_slow.py"), "-q"], here, env, log,
                           fork=True)
        try:
            proc.wait(timeout=1.0)
            codes["slow"] = "finished"
        except subprocess.TimeoutExpired:
            proc.kill()
            codes["slow"] = proc.wait(timeout=30)
    print(json.dumps(codes))
""")


def test_a_forked_suite_logs_and_exits_like_a_fresh_interpreter(tmp_path):
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    codes = json.loads(out.stdout.strip().splitlines()[-1])
    assert codes == {"ok": 0, "bad": 1, "slow": -9}, codes
    assert "1 passed" in (tmp_path / "ok.log").read_text()
    bad = (tmp_path / "bad.log").read_text()
    assert "planted" in bad and "1 failed" in bad
