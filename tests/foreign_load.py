"""A busy loop in a process that is not the test's descendant, for the machine-load tests.

A process's live descendants are its own work in a machine window (the runner's suite processes are its
grandchildren), so a load that stands for *another* process must not be one: a child starts the loop and exits at
once, and init adopts the loop."""
from __future__ import annotations

import subprocess
import sys

import psutil

SPIN = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


def start_foreign_spinner(seconds: float) -> psutil.Process:
    """Start a loop that spins one core for ``seconds`` in a process adopted by init; returns it (to wait or kill)."""
    quiet = "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL"  # else the pipe stays open until the loop ends
    starter = (f"import subprocess, sys\n"
               f"print(subprocess.Popen([sys.executable, '-c', {SPIN.format(seconds=seconds)!r}], {quiet}).pid)")
    pid = int(subprocess.run([sys.executable, "-c", starter], check=True, capture_output=True, text=True,
                             timeout=60).stdout)
    return psutil.Process(pid)


def stop(proc: psutil.Process) -> None:
    """Kill the loop if it still runs and wait until it is gone (the next test's window must not see it)."""
    if proc.is_running():
        proc.kill()
    psutil.wait_procs([proc], timeout=30)
