"""Frozen-feature evaluation: features, probes, baselines, the run report."""

from openjepa.eval.config import EvalConfig
from openjepa.eval.features import encoder_features, raw_features
from openjepa.eval.probes import knn_probe, linear_probe, lowshot_probe

__all__ = ["EvalConfig", "encoder_features", "knn_probe", "linear_probe", "lowshot_probe", "raw_features"]
