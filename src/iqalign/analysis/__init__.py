"""Analysis of how well image quality metrics predict network performance."""

from .alignment import (
    LOWER_IS_BETTER_TARGETS,
    TABLE_COLUMNS,
    alignment_table,
    summarize_best,
    to_markdown,
    within_group_stats,
)

__all__ = [
    "LOWER_IS_BETTER_TARGETS",
    "TABLE_COLUMNS",
    "alignment_table",
    "summarize_best",
    "to_markdown",
    "within_group_stats",
]
