"""openjepa: Joint Embedding Predictive Architectures in PyTorch.

    import openjepa
    openjepa.train("ijepa_tiny", "runs/a", overrides=["train.minutes=5"])
    openjepa.evaluate("runs/a")                  # writes runs/a/eval.json
    encoder = openjepa.load("runs/a")            # (B, C, H, W) -> (B, N, D)
    features = openjepa.embed("runs/a", ["x.png"])
    openjepa.classify("runs/a", ["x.png"])     # [(class, probability)], by the probe eval saved
    openjepa.similarity("runs/a", "x.png", "y.png")
    openjepa.search("runs/a", ["x.png"], "photos/", k=5)
    openjepa.free_energy("runs/a", ["x.png"], ["y.png"])   # F(x, y): x's left half predicting y's right half
"""

from openjepa.api import embed, energy, evaluate, free_energy, load, train
from openjepa.apps.classify import classify
from openjepa.apps.search import search
from openjepa.apps.similarity import similarity

__version__ = "0.1.0"
__all__ = ["classify", "embed", "energy", "evaluate", "free_energy", "load", "search", "similarity", "train"]
