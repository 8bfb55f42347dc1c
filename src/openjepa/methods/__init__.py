"""JEPA family members, one file each, composing encoder, target, predictor, masks and objectives; every module
here registers its method in ``METHODS``."""

from openjepa.core.registry import import_submodules

import_submodules(__name__)
