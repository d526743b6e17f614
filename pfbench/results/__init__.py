"""The tidy results of a run: the schema (one row per measured number, with its context), the rows suites write,
the run's table on disk, and the comparison of two runs (judged by each benchmark's declarations).
"""
