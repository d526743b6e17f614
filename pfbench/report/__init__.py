"""The run report (Markdown + one self-contained HTML page) and its building blocks.

Layout: blocks.py (blocks, Markdown/HTML rendering through templates/report.html.j2), common.py (formatting,
ReportContext), first_screen.py (verdicts and the per-variant summary), sections.py (header, suites, skipped),
build.py (assembly), compare.py (two runs), multi.py (several runs side by side). Each benchmark's own section lives
with its declaration in pfbench/benchmarks/<suite>/section.py.
"""
from pfbench.report.blocks import (Block, bullets, details, heading, image, markdown_table, render_html,  # noqa: F401
                                   render_markdown, table, text)
from pfbench.report.common import (BASELINE, GIB, ReportContext, bound_of, color, fmt, fmt_x, line_style,  # noqa: F401
                                   order_variants, pct_change, plain_log_axis, sci, value_of)
from pfbench.report.sections import no_data  # noqa: F401
from pfbench.report.build import build_report, make_context, write_report  # noqa: F401
from pfbench.report.compare import format_comparison, section_comparison  # noqa: F401
