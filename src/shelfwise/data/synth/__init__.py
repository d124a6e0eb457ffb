"""The synthetic demo shop: a seeded generator, its ground truth and the world model behind it.

``write_shop(out_dir, SynthConfig(...))`` writes a shop folder any capability can ingest, with the
hidden truth in ``out_dir/_truth``; ``SyntheticWorld(load_truth(out_dir))`` answers what users would do
with any list shown to them, which is what the policy simulator and the quality tests build on.
"""

from .generate import SynthConfig, SynthResult, SynthShop, generate, write_shop
from .truth import Coefficients, ItemTruth, Truth, UserTruth, load_truth, save_truth, truth_tables
from .world import STAGES, Outcome, Probabilities, SyntheticWorld

__all__ = ["STAGES", "Coefficients", "ItemTruth", "Outcome", "Probabilities", "SynthConfig", "SynthResult",
           "SynthShop", "SyntheticWorld", "Truth", "UserTruth", "generate", "load_truth", "save_truth",
           "truth_tables", "write_shop"]
