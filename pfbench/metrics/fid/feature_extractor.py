"""torch-fidelity's feature-extractor interface for extractors that provide one named feature."""
from __future__ import annotations

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

# ----------------------------------------------------------------------------------------------- extractors

class _OneFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity's extractor interface for extractors that provide one feature, named ``FEATURE``."""

    FEATURE = "features"

    @classmethod
    def get_provided_features_list(cls):
        return (cls.FEATURE,)

    @classmethod
    def get_default_feature_layer_for_metric(cls, metric):
        return cls.FEATURE

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
