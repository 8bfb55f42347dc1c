"""Using a trained encoder on files, as transformers' I-JEPA examples do: ``classify`` (the probe ``openjepa eval``
saved, or an HF classification head), ``similarity`` of two files and ``search`` of a folder for the files nearest
to queries. Each takes an openjepa run folder or an HF I-JEPA (or V-JEPA 2) folder."""
