"""Interventions on imaging conditions: do(C = corruption at severity)."""
from .corruptions import CLEAN, CORRUPTIONS, Condition, apply_condition, condition_grid, condition_seed

__all__ = ["CLEAN", "CORRUPTIONS", "Condition", "apply_condition", "condition_grid", "condition_seed"]
