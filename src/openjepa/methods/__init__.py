"""JEPA family members, each composing encoder, target, predictor, masks and objectives."""

from openjepa.methods.base import Method, Normalize, StepOutput
from openjepa.methods.ijepa import IJepa, IJepaConfig
from openjepa.methods.lejepa import LeJepa, LeJepaConfig
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.methods.vjepa import VJepa, VJepaConfig
from openjepa.world.model import LeWorldModel, LeWorldModelConfig

METHODS = {"ijepa": (IJepaConfig, IJepa), "lejepa": (LeJepaConfig, LeJepa), "vjepa": (VJepaConfig, VJepa),
           "lewm": (LeWorldModelConfig, LeWorldModel)}
MethodConfig = IJepaConfig | LeJepaConfig | VJepaConfig | LeWorldModelConfig

__all__ = [
    "IJepa", "IJepaConfig", "LeJepa", "LeJepaConfig", "LeWorldModel", "LeWorldModelConfig", "METHODS", "Method", "MethodConfig", "Normalize",
    "StepOutput", "TargetConfig", "TargetEncoder", "VJepa", "VJepaConfig",
]
