"""JEPA family members, each composing encoder, target, predictor, masks and objectives."""

from openjepa.methods.base import Method, Normalize, StepOutput
from openjepa.methods.ijepa import IJepa, IJepaConfig
from openjepa.methods.lejepa import LeJepa, LeJepaConfig
from openjepa.methods.targets import TargetConfig, TargetEncoder
from openjepa.methods.vjepa import VJepa, VJepaConfig
from openjepa.world.ac_model import ACWorldModel, ACWorldModelConfig
from openjepa.world.model import LeWorldModel, LeWorldModelConfig

METHODS = {"ijepa": (IJepaConfig, IJepa), "lejepa": (LeJepaConfig, LeJepa), "vjepa": (VJepaConfig, VJepa),
           "lewm": (LeWorldModelConfig, LeWorldModel), "vjepa2ac": (ACWorldModelConfig, ACWorldModel)}
MethodConfig = IJepaConfig | LeJepaConfig | VJepaConfig | LeWorldModelConfig | ACWorldModelConfig
WORLD_MODELS = ("lewm", "vjepa2ac")  # methods that train on trajectory stores

__all__ = [
    "ACWorldModel", "ACWorldModelConfig", "IJepa", "IJepaConfig", "LeJepa", "LeJepaConfig", "LeWorldModel", "LeWorldModelConfig", "METHODS", "Method", "MethodConfig", "Normalize",
    "StepOutput", "TargetConfig", "TargetEncoder", "VJepa", "VJepaConfig", "WORLD_MODELS",
]
