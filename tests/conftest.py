"""Unit tests run single-threaded: their tensors are tiny, and one thread keeps timings stable when the two
cores are shared (OpenMP spin-waiting makes a second thread several times slower under contention)."""
import torch

torch.set_num_threads(1)


# the longest test files, started first: under `pytest -n 2 --dist loadfile` a long file scheduled last leaves the
# other worker idle for minutes at the end (the CI's smoke run of every suite came last, alphabetically)
LONG_FILES_FIRST = ("test_smoke_run.py", "test_train_kill.py", "test_train_distributed.py", "test_metrics_reduced_flow.py")


def pytest_collection_modifyitems(session, config, items):
    """Stable reorder: items of LONG_FILES_FIRST (in that order) first, everything else as collected."""
    rank = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
