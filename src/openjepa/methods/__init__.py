"""JEPA family members, each composing encoder, target, predictor, masks and objectives."""

from openjepa.methods.base import Method, Normalize, StepOutput
from openjepa.methods.ijepa import IJepa, IJepaConfig
from openjepa.methods.lejepa import LeJepa, LeJepaConfig
from openjepa.methods.targets import TargetConfig, TargetEncoder

METHODS = {"ijepa": (IJepaConfig, IJepa), "lejepa": (LeJepaConfig, LeJepa)}
MethodConfig = IJepaConfig | LeJepaConfig

__all__ = [
    "IJepa", "IJepaConfig", "LeJepa", "LeJepaConfig", "METHODS", "Method", "MethodConfig", "Normalize",
    "StepOutput", "TargetConfig", "TargetEncoder",
]
