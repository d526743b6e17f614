"""Unit tests run single-threaded: their tensors are tiny, and one thread keeps timings stable when the two
cores are shared (OpenMP spin-waiting makes a second thread several times slower under contention)."""
import torch

torch.set_num_threads(1)
