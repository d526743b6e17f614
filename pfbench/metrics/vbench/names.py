"""The VBench and EvalCrafter dimension names, VBench's normalisation and its quality-score weights: pure data, so
a benchmark's declaration can name its metrics without importing the scoring code (METRICS_FACTS.md)."""
from __future__ import annotations

QUALITY_DIMENSIONS = ("subject_consistency", "background_consistency", "temporal_flickering", "motion_smoothness",
                      "dynamic_degree", "aesthetic_quality", "imaging_quality")
EVALCRAFTER_DIMENSIONS = ("flow_score", "warping_error", "clip_temp_score")
DIMENSION_NAMES = QUALITY_DIMENSIONS + EVALCRAFTER_DIMENSIONS  # every dimension pfbench scores, in report order

# VBench's normalisation (Min, Max) and weights for the quality score.
NORMALIZATION = {
    "subject_consistency": (0.1462, 1.0), "background_consistency": (0.2615, 1.0),
    "temporal_flickering": (0.6293, 1.0), "motion_smoothness": (0.706, 0.9975),
    "dynamic_degree": (0.0, 1.0), "aesthetic_quality": (0.0, 1.0), "imaging_quality": (0.0, 1.0),
}
WEIGHTS = {name: (0.5 if name == "dynamic_degree" else 1.0) for name in QUALITY_DIMENSIONS}

MUSIQ_HINT = ("needs MUSIQ (SPAQ) through pyiqa: pip install 'pfbench[musiq]' and pass --weights-dir DIR with "
              "DIR/musiq/musiq_spaq_ckpt-358bb6af.pth")
