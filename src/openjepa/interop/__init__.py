"""Outside formats: HF transformers I-JEPA folders in and out."""

from openjepa.interop.hf_ijepa import export_hf_ijepa, is_hf_ijepa_folder, load_hf_ijepa
from openjepa.interop.safetensors_io import WeightsError

__all__ = ["WeightsError", "export_hf_ijepa", "is_hf_ijepa_folder", "load_hf_ijepa"]
