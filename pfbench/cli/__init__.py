"""The `pfbench` command: main.py (parsing, one-line errors, exit codes), args.py (typed argument parsers) and one
module per sub-command in commands/. Nothing below this folder imports it.
"""
