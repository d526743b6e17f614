"""The run report (Markdown + one self-contained HTML page), assembled from the registered benchmarks: build.py
(assembly, verdicts first), first_screen.py (verdicts and the per-variant summary), sections.py (header, suites,
skipped), compare.py (two runs), multi.py (several runs side by side). The blocks are pfbench/render's; each
benchmark's own section lives in pfbench/benchmarks/<name>/."""
