"""Cost on paper: tokens, attention pairs and FLOPs of every variant, closed-form AR sums, architecture cards
and what a pyramid would save on them, GPU peaks, and the GPU-hours and MFU of the paper's training plan.
"""
