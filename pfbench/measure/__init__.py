"""Measurement on the device: timing (synchronised, CUDA events), peak memory and out-of-memory as a result,
counted FLOPs and MFU, energy (NVML), the machine's description, and profiler traces.
"""
