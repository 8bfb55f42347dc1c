"""What every part builds on: typed configs, the registry pattern, the protocols methods declare, the input spec,
errors and device choice. Imports nothing else from openjepa."""
