"""The building blocks of a report: Markdown/HTML blocks and their rendering, number formatting, variant order and
styles, and the ReportContext a section reads. Benchmarks draw their sections with these; pfbench/report assembles.
"""
