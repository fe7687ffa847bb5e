"""Run the synthetic causal world end to end: the same rows and tables as ``iqalign benchmark``.

``run_simulation(SimulationConfig(out="runs/sim"))`` draws ``n_images`` scenes, renders each under
clean + every (corruption, severity) cell, trains the population of task models and the reference
model, measures every metric Q and every target model's performance M, and writes (when ``out`` is
set) ``rows.parquet``, ``alignment.csv``/``.md``, ``sensitivity.csv``, ``decomposition.csv``,
``population.csv``, ``config.json`` and ``summary.md``.  The same config gives identical files.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .metrics import ORACLE_METRICS, content_ease, oracle_values
from .model import TaskModel, TaskModelSpec, make_training_set, train_task_model
from .world import (CLASSES, CORRUPTIONS, IRRELEVANT_CORRUPTIONS, SEVERITY_LEVELS, apply_condition,
                    condition_grid, render_scene, sample_content)

__all__ = ["SimulationConfig", "DEFAULT_POPULATION", "DEFAULT_REFERENCE", "IMAGE_METRICS", "TASK_METRICS",
           "run_simulation", "simulate_rows", "metric_directions"]

#: The target models (performance M): one trained on clean and corrupted views, one on clean only.
DEFAULT_POPULATION: tuple[TaskModelSpec, ...] = (
    TaskModelSpec("cnn_robust", width=8, augment=True, seed=1),
    TaskModelSpec("cnn_clean", width=8, augment=False, seed=2),
)
#: The reference model the task-guided metrics read (never a target).
DEFAULT_REFERENCE = TaskModelSpec("cnn_ref", width=12, augment=True, seed=3)

#: Real iqalign image metrics computed on the synthetic images, with the smallest side they need.
IMAGE_METRICS: dict[str, int] = {"sharpness": 3, "contrast": 3, "brightness": 3, "colourfulness": 3,
                                 "noise_sigma": 3, "brisque": 64, "piqe": 64, "niqe": 96}
TASK_METRICS: tuple[str, ...] = ("task_maxprob", "task_margin", "task_negentropy", "task_ptrue", "task_truemargin")


@dataclass
class SimulationConfig:
    """Everything that decides the synthetic world's numbers; saved as ``config.json``."""

    out: str | None = None  # results folder; None: return the tables without writing
    n_images: int = 300
    seed: int = 0
    corruptions: list[str] | None = None  # None: all six (five relevant + tint)
    severities: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    image_size: int = 32
    n_train: int = 5000  # training scenes (each clean and under one relevant condition)
    epochs: int | None = None  # None: each model's own (TaskModelSpec.epochs); else for all models
    metrics: list[str] | None = None  # None: the oracles, the image metrics that fit the size, task metrics
    population: list[TaskModelSpec] = field(default_factory=lambda: list(DEFAULT_POPULATION))
    reference: TaskModelSpec | None = DEFAULT_REFERENCE  # None: no task-guided metrics
    n_boot: int = 1000
    n_perm: int = 1000
    threads: int = 1  # torch threads for training and inference (fixed, so runs are reproducible)

    def __post_init__(self) -> None:
        if isinstance(self.corruptions, str):
            self.corruptions = [c.strip() for c in self.corruptions.split(",") if c.strip()]
        if isinstance(self.severities, (int, str)):
            self.severities = [int(s) for s in str(self.severities).split(",") if s.strip()]
        if isinstance(self.metrics, str):
            self.metrics = [m.strip() for m in self.metrics.split(",") if m.strip()]
        self.severities = sorted(set(int(s) for s in self.severities if int(s) != 0))
        if not self.severities:
            raise ValueError("give at least one severity 1-5: clean scenes are always included, and a clean-only "
                             "world intervenes on nothing")
        if self.corruptions is not None:
            self.corruptions = list(dict.fromkeys(self.corruptions))  # a name given twice is one condition
        if self.out is not None:
            _check_simulate_out(Path(self.out))
        self.population = [s if isinstance(s, TaskModelSpec) else TaskModelSpec(**s) for s in self.population]
        if isinstance(self.reference, dict):
            self.reference = TaskModelSpec(**self.reference)
        if self.epochs is not None:
            if self.epochs < 1:
                raise ValueError(f"epochs must be >= 1, got {self.epochs}")
            self.population = [replace(s, epochs=int(self.epochs)) for s in self.population]
            self.reference = replace(self.reference, epochs=int(self.epochs)) if self.reference else None
        condition_grid(self.corruptions, self.severities)  # validates
        names = [s.name for s in self.population] + ([self.reference.name] if self.reference else [])
        checks = [(self.n_images >= 2, f"n_images must be >= 2, got {self.n_images}"),
                  (self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
                  (self.image_size >= 16, f"image_size must be >= 16, got {self.image_size}"),
                  (self.n_train >= 6, f"n_train must be >= 6, got {self.n_train}"),
                  (len(self.population) >= 1, "give at least one target model"),
                  (len(set(names)) == len(names), f"model names must differ, got {names}"),
                  (self.n_boot >= 0 and self.n_perm >= 0, "n_boot and n_perm must be >= 0"),
                  (self.threads >= 1, f"threads must be >= 1, got {self.threads}")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.metrics == []:
            raise ValueError("metrics is empty; leave it out to use the default set")
        if self.metrics is not None:
            known = set(ORACLE_METRICS) | set(IMAGE_METRICS) | set(TASK_METRICS)
            unknown = [m for m in self.metrics if m not in known]
            if unknown:
                raise ValueError(f"unknown metric(s) {unknown} for the synthetic world; choose from {sorted(known)}")
            small = [m for m in self.metrics if IMAGE_METRICS.get(m, 0) > self.image_size]
            if small:
                raise ValueError(f"metric(s) {small} need images of at least "
                                 f"{max(IMAGE_METRICS[m] for m in small)} px; image_size is {self.image_size}")
            if self.reference is None and any(m in TASK_METRICS for m in self.metrics):
                raise ValueError("task-guided metrics need a reference model")

    def metric_names(self) -> list[str]:
        if self.metrics is not None:
            return list(dict.fromkeys(self.metrics))
        names = list(ORACLE_METRICS)
        names += [m for m, need in IMAGE_METRICS.items() if need <= self.image_size]
        names += list(TASK_METRICS) if self.reference is not None else []
        return names

    def to_dict(self) -> dict:
        d = asdict(self)
        d["population"] = [s.to_dict() for s in self.population]
        d["reference"] = self.reference.to_dict() if self.reference else None
        return d


def metric_directions(names: Sequence[str]) -> dict[str, bool]:
    """``higher_is_better`` of each metric (oracles: True; others from the iqalign registry)."""
    from ..metrics.registry import get_metric

    return {n: ORACLE_METRICS[n][0] if n in ORACLE_METRICS else get_metric(n).spec.higher_is_better
            for n in names}


def _log(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _train_population(cfg: SimulationConfig, quiet: bool) -> tuple[list[TaskModel], TaskModel | None]:
    t0 = time.perf_counter()
    data = make_training_set(cfg.seed, cfg.n_train, cfg.image_size)
    _log(quiet, f"  training set: {cfg.n_train} scenes x (clean + 1 corrupted view), "
                f"{time.perf_counter() - t0:.1f} s")
    specs = list(cfg.population) + ([cfg.reference] if cfg.reference else [])
    models = []
    for spec in specs:
        m = train_task_model(spec, data, seed=cfg.seed, threads=cfg.threads)
        _log(quiet, f"  trained {spec.name}: {m.seconds:.1f} s, clean training accuracy {m.train_accuracy:.3f}")
        models.append(m)
    if cfg.reference:
        return models[:-1], models[-1]
    return models, None


def simulate_rows(cfg: SimulationConfig, targets: Sequence[TaskModel], reference: TaskModel | None = None,
                  quiet: bool = True) -> pd.DataFrame:
    """The benchmark rows of the synthetic world for already trained models.

    One row per (image, condition): ``image_id, path, label, class_name, condition, corruption,
    severity``, the content factors ``content_size, content_clutter, content_occlusion,
    content_ease`` (ground truth, not metrics), every metric, and ``f"{model}.{t}"`` for
    ``t`` in top1, top5, p_true, loss, pred, exactly as ``iqalign benchmark`` writes them.
    """
    from ..metrics.registry import get_metric
    from ..models.performance import performance

    names = cfg.metric_names()
    image_fns = {n: get_metric(n).image_fn for n in names if n in IMAGE_METRICS}
    task_fns = {n: get_metric(n).task_fn for n in names if n in TASK_METRICS}
    oracles = [n for n in names if n in ORACLE_METRICS]
    grid = condition_grid(cfg.corruptions, cfg.severities)
    meta, views = [], []
    t0 = time.perf_counter()
    for i in range(cfg.n_images):
        content = sample_content(cfg.seed, i)
        scene = render_scene(content, cfg.image_size)
        image_id = f"sim{cfg.seed}-{i:05d}"
        for corruption, severity in grid:
            view = apply_condition(scene, corruption, severity, seed=cfg.seed, index=i)
            rng = np.random.default_rng([cfg.seed, 5, i, CORRUPTIONS.index(corruption) + 1 if corruption in
                                         CORRUPTIONS else 0, severity])
            row = {"image_id": image_id, "path": f"sim://{cfg.seed}/{i}", "label": content.label,
                   "class_name": content.class_name, "condition": "clean" if severity == 0 else
                   f"{corruption}@{severity}", "corruption": corruption, "severity": severity,
                   "content_size": content.size, "content_clutter": content.clutter,
                   "content_occlusion": content.occlusion, "content_ease": content_ease(content)}
            ov = oracle_values(content, corruption, severity, rng)
            row.update({n: ov[n] for n in oracles})
            for n, fn in image_fns.items():
                try:
                    row[n] = float(fn(view))
                except Exception:  # a metric undefined on a view gives NaN, like the benchmark
                    row[n] = float("nan")
            meta.append(row)
            views.append(view)
    _log(quiet, f"  rendered {len(views)} views ({cfg.n_images} images x {len(grid)} conditions), "
                f"{time.perf_counter() - t0:.1f} s")
    frame = pd.DataFrame(meta)
    images = np.stack(views) if views else np.zeros((0, cfg.image_size, cfg.image_size, 3), np.uint8)
    labels = frame["label"].to_numpy(dtype=np.int64)
    if task_fns:
        probs = reference.predict_proba(images, threads=cfg.threads)
        for n, fn in task_fns.items():
            frame[n] = fn(probs, labels)
    frame = frame[[c for c in frame.columns if c not in names] + names]  # metrics in the configured order
    for model in targets:
        perf = performance(model.predict_proba(images, threads=cfg.threads), labels)
        for key, values in perf.items():
            frame[f"{model.name}.{key}"] = values
    return frame


def _check_simulate_out(out: Path) -> None:
    """A simulation is not resumable: it may replace an earlier simulation's folder, nothing else."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        config = out / "config.json"
        try:
            command = json.loads(config.read_text()).get("command")
        except (OSError, ValueError):
            command = None
        if command != "simulate":
            raise ValueError(f"--out {out} is a non-empty folder that is not an earlier `iqalign simulate` result; "
                             "choose a new or empty folder")


def run_simulation(cfg: SimulationConfig, quiet: bool = False) -> dict:
    """Build the world, train the models, measure, analyse; write the results when ``cfg.out`` is set.

    Returns a dict with ``rows``, ``alignment``, ``sensitivity``, ``decomposition``, ``population``
    (DataFrames), ``config`` (what ``config.json`` holds) and ``out`` (a Path or None).
    """
    from ..analysis import alignment_table, to_markdown
    from ..analysis.causal import causal_tables, write_causal_tables
    from ..pipeline.provenance import environment
    from ..models.performance import TARGETS

    t0 = time.perf_counter()
    _log(quiet, f"iqalign simulate: {cfg.n_images} images, {cfg.image_size} px, seed {cfg.seed}")
    targets, reference = _train_population(cfg, quiet)
    rows = simulate_rows(cfg, targets, reference, quiet=quiet)
    names = cfg.metric_names()
    hib = metric_directions(names)
    models = [m.name for m in targets]
    alignment = alignment_table(rows, names, models, hib, targets=TARGETS, n_boot=cfg.n_boot, seed=cfg.seed)
    tables = causal_tables(rows, names, models, hib, targets=TARGETS, n_boot=cfg.n_boot, n_perm=cfg.n_perm,
                           seed=cfg.seed)
    config = {
        "command": "simulate", "config": cfg.to_dict(),
        "conditions": ["clean" if s == 0 else f"{c}@{s}" for c, s in condition_grid(cfg.corruptions, cfg.severities)],
        "targets": models, "references": [reference.name] if reference else [],
        "world": {"classes": list(CLASSES), "severity_levels": {k: list(v) for k, v in SEVERITY_LEVELS.items()},
                  "irrelevant_corruptions": list(IRRELEVANT_CORRUPTIONS)},
        "metrics": [{"name": n, "higher_is_better": hib[n],
                     "family": "oracle" if n in ORACLE_METRICS else ("task" if n in TASK_METRICS else "image"),
                     "reads": ORACLE_METRICS[n][1] if n in ORACLE_METRICS else ""} for n in names],
        "models": {m.name: m.describe() for m in targets + ([reference] if reference else [])},
        "n_images": int(cfg.n_images), "n_rows": int(len(rows)), "environment": environment(),
    }
    result = {"rows": rows, "alignment": alignment, **tables, "config": config, "out": None}
    if cfg.out:
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        rows.to_parquet(out / "rows.parquet", index=False)
        alignment.to_csv(out / "alignment.csv", index=False)
        (out / "alignment.md").write_text("# Alignment on the synthetic world\n\n" + to_markdown(alignment))
        write_causal_tables(out, tables)
        timing = {"seconds": round(time.perf_counter() - t0, 1)}
        (out / "config.json").write_text(json.dumps({**config, "timing": timing}, indent=2, default=str))
        (out / "summary.md").write_text(summary_markdown(result))
        result["out"] = out
    _log(quiet, f"  done in {time.perf_counter() - t0:.1f} s" + (f": {cfg.out}" if cfg.out else ""))
    return result


def summary_markdown(result: dict, target: str = "p_true") -> str:
    """Readable summary: the models, the known answers of the oracle metrics, and the causal table."""
    from ..analysis.causal import causal_markdown, format_ci

    rows, cfg = result["rows"], result["config"]
    dec, sens = result["decomposition"], result["sensitivity"]
    models = cfg["targets"]
    lines = ["# The synthetic causal world", "",
             f"- {cfg['n_images']} scenes x {len(cfg['conditions'])} conditions ({cfg['n_rows']} rows), "
             f"{cfg['config']['image_size']} px, seed {cfg['config']['seed']}; classes: {', '.join(cfg['world']['classes'])}",
             f"- target models (M): {', '.join(models)}; reference for task-guided metrics: "
             f"{', '.join(cfg['references']) or 'none'}",
             f"- intervals: 95% bootstrap over scenes ({cfg['config']['n_boot']} resamples); "
             f"p: permutation test ({cfg['config']['n_perm']} permutations)", "",
             "## Task models: top-1 accuracy by condition", "",
             "| model | clean | " + " | ".join(c for c in dict.fromkeys(rows.loc[rows.severity > 0, "corruption"]))
             + " |", "|---|" + "---:|" * (1 + rows.loc[rows.severity > 0, "corruption"].nunique())]
    for m in models:
        acc = rows.groupby("corruption", sort=False)[f"{m}.top1"].mean()
        cells = [f"{acc.get('none', np.nan):.3f}"] + [f"{acc[c]:.3f}" for c in acc.index if c != "none"]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "(corrupted columns: mean over the severities run)", "",
              f"## Known answers (oracle metrics vs `{target}`)", "",
              "| metric | model | all rows | between content | within content | given condition (p) "
              "| rank agreement across cells | largest tint effect on Q (sd) | largest tint effect on M |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    d = dec[dec.target == target].set_index(["metric", "model", "scope"])
    agree = sens[(sens.kind == "agreement") & (sens.target == target)].set_index(["metric", "model"])
    cellrows = sens[(sens.kind == "cell") & (sens.target == target)]
    for metric in [m for m in ORACLE_METRICS if (m, models[0], "all") in d.index]:
        for model in models:
            def cell(scope):
                r = d.loc[(metric, model, scope)]
                text = format_ci(r.spearman, r.spearman_lo, r.spearman_hi)
                return text + (f" (p={r.p_value:.3g})" if np.isfinite(r.p_value) else "")
            a = agree.loc[(metric, model)] if (metric, model) in agree.index else None
            tint = cellrows[(cellrows.metric == metric) & (cellrows.model == model)
                            & cellrows.corruption.isin(IRRELEVANT_CORRUPTIONS)]
            if len(tint):
                k = tint.q_effect_sd.abs().idxmax()
                tq = f"{tint.loc[k, 'q_effect_sd']:+.2f} ({tint.loc[k, 'condition']})"
                k = tint.m_effect.abs().idxmax()
                tm = f"{format_ci(tint.loc[k, 'm_effect'], tint.loc[k, 'm_effect_lo'], tint.loc[k, 'm_effect_hi'])}"
            else:
                tq = tm = "n/a"
            lines.append(f"| {metric} | {model} | {cell('all')} | {cell('between')} | {cell('within')} | "
                         f"{cell('given_condition')} | "
                         f"{format_ci(a.spearman, a.spearman_lo, a.spearman_hi) if a is not None else 'n/a'} | {tq} | {tm} |")
    lines += ["", "## All metrics", "", causal_markdown(result, target=target)]
    return "\n".join(lines) + "\n"
