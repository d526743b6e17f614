"""Fréchet distances of frames: features -> statistics -> metric through torch-fidelity, with pfbench's registered
extractors (EfficientNet-Lite0, transformers vision folders, a named random-feature fallback).
"""
