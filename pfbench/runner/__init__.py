"""Running the suites into a run folder that is never overwritten: the suite catalogue, the folder and its files,
the environment manifest, and the pytest subprocesses.
"""
