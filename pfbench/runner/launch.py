"""Start a suite's pytest process: forked from a server that imported torch and pytest once, or a fresh interpreter.

Each suite still runs in a process of its own (a crash or a leak ends with it; its status comes from its exit
code), but where the platform has multiprocessing's 'forkserver' the process is forked from a server that has
imported the heavy modules below and run nothing else (``pfbench.measure.child_rss.child_context``: no CUDA, no
pandas/pyarrow allocator thread), so a suite starts in ~0.1 s instead of ~2.5-4 s of imports. The child runs exactly the pytest arguments of the command the log's first
line shows, in the same folder and environment, with its output appended to the log; that command, run by hand,
does the same work in a fresh interpreter. ``PFBENCH_FRESH_SUITES=1`` (or a platform without fork) starts every
suite as that command instead.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pfbench.measure.child_rss import child_context

FRESH_ENV = "PFBENCH_FRESH_SUITES"
# imported once in the server: what every suite imports, and the FID extractors' torchvision (~1.7 s on its own);
# not pandas, whose pyarrow starts an allocator thread at import (~0.35 s a suite is the price)
SERVER_PRELOAD = ("torch", "pytest", "pytest_benchmark.plugin", "torch_fidelity")


def _pytest_in_child(args: list[str], cwd: str, env: dict[str, str], log_path: str) -> None:
    """The forked child: become ``python -m pytest ARGS`` run in ``cwd`` with ``env``, output to the log."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:0] = [cwd, *extra]  # as `python -m pytest` started here with this PYTHONPATH would have it
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.argv = [sys.executable, "-m", "pytest", *args]
    import pytest

    try:
        code = int(pytest.main(args))
    finally:
        atexit._run_exitfuncs()  # a forked child leaves through os._exit: run what an interpreter's exit would
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


@dataclass
class ForkedSuite:
    """A suite's process forked by the server, with the part of ``subprocess.Popen``'s interface the runner uses."""

    process: multiprocessing.process.BaseProcess
    args: list[str]

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.process.exitcode

    def terminate(self) -> None:
        self.process.terminate()

    def kill(self) -> None:
        self.process.kill()


def forking_available(env: dict[str, str]) -> bool:
    """True where suites can be forked from the server: 'forkserver' exists and ``PFBENCH_FRESH_SUITES`` is unset."""
    return env.get(FRESH_ENV, "") in ("", "0") and "forkserver" in multiprocessing.get_all_start_methods()


def start_suite(cmd: list[str], *, cwd: Path, env: dict[str, str], log_path: Path):
    """Start ``cmd`` (``python -m pytest ARGS``) with its output appended to ``log_path``; returns a handle with
    ``wait(timeout)`` / ``terminate()`` / ``kill()`` (a ``subprocess.Popen`` where the suite is not forked)."""
    pytest_args = cmd[3:] if cmd[1:3] == ["-m", "pytest"] else None
    if pytest_args is None or not forking_available(env):
        with open(log_path, "a", encoding="utf-8") as log:
            return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    ctx = child_context(SERVER_PRELOAD)
    process = ctx.Process(target=_pytest_in_child, args=(pytest_args, str(cwd), dict(env), str(log_path)),
                          name=f"pfbench-suite-{Path(pytest_args[0]).stem}")
    process.start()
    return ForkedSuite(process, cmd)
