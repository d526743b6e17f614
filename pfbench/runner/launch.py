"""Start a suite's pytest process: forked from a runner that has imported torch once, or a fresh interpreter.

Each suite runs in its own process (a crash or an out-of-memory in one never takes the others down), but a fresh
``python -m pytest`` spends seconds importing torch, pytest and pfbench before its first test. On Linux the runner
imports those once (``preload``, importing only: no torch operation runs in the runner, so no thread pool exists
when it forks; a runner with other threads, e.g. inside a pytest-xdist worker, starts fresh interpreters instead) and forks a child per suite, which sets the suite's environment and working folder, points its
stdout and stderr at the suite's log and calls ``pytest.main``. Elsewhere (no ``os.fork``; macOS, where forking a
process that loaded system frameworks is unsafe) it starts a fresh interpreter. Both return an object with
``Popen``'s ``wait(timeout)``, ``terminate()`` and ``kill()``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

PRELOAD = ("numpy", "pandas", "torch", "pytest", "pytest_benchmark.plugin", "reference_model.variants",
           "pfbench.train.loop", "pfbench.results.rows", "pfbench.measure.hardware")


def can_fork() -> bool:
    """Forking is used on Linux only, from a single-threaded process (a fork copies only the calling thread: a lock
    another thread held stays locked in the child), and never once CUDA is initialised here (the child could not
    use it)."""
    import threading

    if not hasattr(os, "fork") or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return False
    torch = sys.modules.get("torch")
    return not (torch is not None and torch.cuda.is_initialized())


def preload() -> None:
    """Import what every suite imports, once, in the runner (imports only, no tensor operations)."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)


class ForkedPytest:
    """``pytest.main(args)`` in a forked child; the parent's handle mimics subprocess.Popen."""

    def __init__(self, args: list[str], cwd: Path, env: dict, log: IO):
        sys.stdout.flush()
        sys.stderr.flush()
        log.flush()
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            code = 3
            try:
                os.chdir(cwd)
                os.environ.clear()
                os.environ.update(env)
                os.dup2(log.fileno(), 1)
                os.dup2(log.fileno(), 2)
                sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                import pytest

                sys.argv = ["pytest", *args]
                code = int(pytest.main(args))
            except BaseException as err:  # noqa: BLE001 - the child must exit, whatever happened
                print(f"pfbench: the suite process failed before pytest finished: {type(err).__name__}: {err}",
                      file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pytest (pid {self.pid})", timeout)
            time.sleep(0.05)
        return self.returncode

    def terminate(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


def start_suite(cmd: list[str], cwd: Path, env: dict, log: IO, fork: bool = False):
    """Start ``cmd`` (``python -m pytest ARGS``): a fresh interpreter, or forked with ``fork`` where ``can_fork()``
    (not the runner's default: a forked throughput suite once hung before its first output)."""
    if fork and can_fork() and cmd[1:3] == ["-m", "pytest"]:
        return ForkedPytest(cmd[3:], cwd, env, log)
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
