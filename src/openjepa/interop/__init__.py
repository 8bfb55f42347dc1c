"""Outside formats: HF transformers I-JEPA and V-JEPA 2 folders in and out."""
