"""Interventions on imaging conditions: do(C = corruption at severity), integer or continuous."""
from .continuous import apply_continuous
from .corruptions import CLEAN, CORRUPTIONS, Condition, apply_condition, condition_grid, condition_seed

__all__ = ["CLEAN", "CORRUPTIONS", "Condition", "apply_condition", "apply_continuous", "condition_grid",
           "condition_seed"]
