"""Analysis of how well image quality metrics predict network performance."""

from .alignment import (
    LOWER_IS_BETTER_TARGETS,
    TABLE_COLUMNS,
    alignment_table,
    summarize_best,
    to_markdown,
    within_group_stats,
)
from .node_effects import NODE_EFFECT_COLUMNS, node_effects_table

__all__ = [
    "LOWER_IS_BETTER_TARGETS",
    "NODE_EFFECT_COLUMNS",
    "TABLE_COLUMNS",
    "alignment_table",
    "node_effects_table",
    "summarize_best",
    "to_markdown",
    "within_group_stats",
]
