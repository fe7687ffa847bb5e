"""Audit a scored dataset: distribution summaries of ``iqalign score`` and ``iqalign compare``."""
from .compare import cliffs_delta, compare_folders, compare_scores, load_score_folder, smd
from .summaries import (group_columns, histograms, percentile_ranks, quantile_table, worst_images,
                        write_summaries)

__all__ = ["cliffs_delta", "compare_folders", "compare_scores", "group_columns", "histograms", "load_score_folder",
           "percentile_ranks", "quantile_table", "smd", "worst_images", "write_summaries"]
