"""Online evaluation in the demo shop: serve lists from a policy to synthetic users, day after day.

See :mod:`.engine` (the day loop) and :mod:`.compare` (two policies on the same traffic, with
confidence intervals on their differences).
"""

from .compare import Comparison, compare_policies
from .engine import SimConfig, SimResult, Simulator

__all__ = ["Comparison", "SimConfig", "SimResult", "Simulator", "compare_policies"]
