"""Unit tests run single-threaded: their tensors are tiny, and one thread keeps timings stable when the two
cores are shared (OpenMP spin-waiting makes a second thread several times slower under contention). The commands
the tests start (``pfbench run`` subprocesses) inherit one OpenMP thread too: the README's test command runs two
pytest workers on two cores, and a subprocess spinning two threads beside the other worker slows both."""
import os

import torch

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

# The longest test files (measured with --durations), started first: the README's command hands whole files to two
# workers (--dist loadfile), and a 2-minute file left to the end runs with the other core idle. xdist would order
# the files by their number of tests (the one-test smoke-run file last); here they keep the collection order below.
LONGEST_FIRST = ("test_smoke_run.py", "test_fvd.py", "test_verdict_simulation.py", "test_metrics_reduced_flow.py",
                 "test_train_sharded_eval.py", "test_user_config.py", "test_benchmark_storage.py",
                 "test_train_distributed.py", "test_train_kill.py", "test_memory_suite_helpers.py", "test_measure.py",
                 "test_runner.py", "test_compare_gate.py")


def pytest_configure(config):
    if getattr(config.option, "loadscopereorder", None) is not None:  # pytest-xdist >= 3.6, in the controller
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept
