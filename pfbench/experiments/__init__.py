"""The shared recipe of the quality experiments: shapes sized for the budget, clips, train -> sample -> evaluate
with explicit seeds, sample measures, and sampling from a trained run.
"""
