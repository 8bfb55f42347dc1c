"""JEPA family members, each composing encoder, target, predictor, masks and objectives."""

from openjepa.methods.base import Method, Normalize, StepOutput
from openjepa.methods.ijepa import IJepa, IJepaConfig
from openjepa.methods.lejepa import LeJepa, LeJepaConfig
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.methods.vjepa import VJepa, VJepaConfig

METHODS = {"ijepa": (IJepaConfig, IJepa), "lejepa": (LeJepaConfig, LeJepa), "vjepa": (VJepaConfig, VJepa)}
MethodConfig = IJepaConfig | LeJepaConfig | VJepaConfig

__all__ = [
    "IJepa", "IJepaConfig", "LeJepa", "LeJepaConfig", "METHODS", "Method", "MethodConfig", "Normalize",
    "StepOutput", "TargetConfig", "TargetEncoder", "VJepa", "VJepaConfig",
]
