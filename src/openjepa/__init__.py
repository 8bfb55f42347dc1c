"""openjepa: Joint Embedding Predictive Architectures in PyTorch.

    import openjepa
    openjepa.train("ijepa_tiny", "runs/a", overrides=["train.minutes=5"])
    openjepa.evaluate("runs/a")                  # writes runs/a/eval.json
    encoder = openjepa.load("runs/a")            # (B, C, H, W) -> (B, N, D)
    features = openjepa.embed("runs/a", ["x.png"])
"""

from openjepa.api import embed, evaluate, load, train

__version__ = "0.1.0"
__all__ = ["embed", "evaluate", "load", "train"]
