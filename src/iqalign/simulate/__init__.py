"""A synthetic causal world: content S and imaging conditions C are explicit, independent causes.

``run_simulation(SimulationConfig(out=DIR))`` writes the same files as ``iqalign benchmark`` for a
world whose answers are known by construction (see ``docs/causal.md``).
"""
from .metrics import ORACLE_METRICS, content_ease, oracle_values
from .model import TaskModel, TaskModelSpec, make_training_set, train_task_model
from .run import (DEFAULT_POPULATION, DEFAULT_REFERENCE, IMAGE_METRICS, TASK_METRICS, SimulationConfig,
                  metric_directions, run_simulation, simulate_rows, summary_markdown)
from .world import (CLASSES, CORRUPTIONS, IRRELEVANT_CORRUPTIONS, RELEVANT_CORRUPTIONS, SEVERITY_LEVELS, Content,
                    apply_condition, condition_grid, render_scene, sample_content, to_luma)

__all__ = [
    "SimulationConfig", "run_simulation", "simulate_rows", "summary_markdown", "metric_directions",
    "DEFAULT_POPULATION", "DEFAULT_REFERENCE", "IMAGE_METRICS", "TASK_METRICS",
    "ORACLE_METRICS", "content_ease", "oracle_values",
    "TaskModel", "TaskModelSpec", "make_training_set", "train_task_model",
    "CLASSES", "CORRUPTIONS", "RELEVANT_CORRUPTIONS", "IRRELEVANT_CORRUPTIONS", "SEVERITY_LEVELS", "Content",
    "apply_condition", "condition_grid", "render_scene", "sample_content", "to_luma",
]
