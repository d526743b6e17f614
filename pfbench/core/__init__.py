"""What every layer shares: the configuration (presets), the one atomic file writer, exit codes and refused-input
errors, safe loading of pickled files, video reading and writing, and the torchrun process group.
"""
