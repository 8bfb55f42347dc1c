"""Run folders: the config (recipes, overrides, plugins), building the method, starting a run, checkpoints,
metrics and atomic writes. Below training, evaluation and the API, which all read and write runs through it."""
