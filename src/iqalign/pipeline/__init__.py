"""Runs: the benchmark (interventions x models x metrics -> rows -> alignment) and scoring."""
from .benchmark import BenchmarkConfig, run_benchmark
from .score import ScoreConfig, run_score

__all__ = ["BenchmarkConfig", "run_benchmark", "ScoreConfig", "run_score"]
