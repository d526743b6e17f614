"""VBench- and EvalCrafter-style video quality, streamed over chunks of frames: names and weights (names.py), shared
resources and per-chunk caches (base.py), the dimensions (dimensions.py), scoring and aggregation (scoring.py),
optical flow and frame interpolation backends, and the metrics' own speed.
"""
