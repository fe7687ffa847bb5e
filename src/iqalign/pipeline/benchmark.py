"""The intervention benchmark: corrupt each photo under controlled conditions, measure every
quality metric Q and every target model's performance M, and test how well Q tracks M.

Data flow: sources -> fixed 224 px view -> do(condition) -> image metrics (worker processes)
-> reference + target models (main process, batched) -> rows (Parquet parts) -> alignment.
With ``engine="ray"`` each chunk runs whole in a Ray actor that holds the models (``ray_engine.py``).
"""
from __future__ import annotations

import hashlib
import json
import sys
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..interventions import CORRUPTIONS, Condition, apply_condition, condition_grid
from ..models import TARGETS, load_for_inference, performance
from ..sources import ImageDecodeError, ImageRecord, discover, load_view
from .measure import image_metric_values, reference_probabilities, resolve_metrics, task_metric_values
from .provenance import environment
from .progress import Progress
from .store import PartStore
from .workers import ChunkWork, check_engine, computed_chunks, execution_info, inference_engine

DEFAULT_MODELS = ("efficientnet_lite1", "efficientnet_lite2")
DEFAULT_REFERENCES = ("efficientnet_lite0",)
FEW_PHOTOS = 20  # below this, intervals over photos are too unstable to read much into


def _names(value) -> list[str] | None:
    """Accept a list or a comma-separated string; drop blanks and repeats, keep order."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    out = list(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
    return out


@dataclass
class BenchmarkConfig:
    """Everything that decides a benchmark's numbers; saved as ``config.json`` in the results."""

    source: str
    out: str
    corruptions: list[str] | None = None  # None: all 19
    severities: list[int] | None = None  # None: 1, 3, 5 (grid mode)
    metrics: list[str] | None = None  # None: every available metric that fits the labels
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    references: list[str] = field(default_factory=lambda: list(DEFAULT_REFERENCES))
    limit: int | None = None  # evenly spaced subset of the sorted images
    seed: int = 0
    view_size: int = 224
    resize_to: int = 256
    n_boot: int = 1000
    workers: int = 0  # 0: one per CPU core; 1: in this process
    chunk_images: int = 8
    source_kind: str = "auto"
    engine: str = "onnx"  # "onnx" (ONNX Runtime, exported once and cached), "torch" (PyTorch eager) or
    #                       "ray" (ONNX Runtime in Ray actors: the same rows as "onnx")
    ray_address: str | None = None  # engine "ray": cluster to attach to (default: $RAY_ADDRESS, else a local instance)
    graph: Any = None  # a condition graph in place of the grid: an example name, a .yaml/.json path, a dict in
    #                    the file's format or a ConditionGraph (the last two are stored as the dict)
    samples_per_image: int | None = None  # graph mode: draws of the graph per photo (None: 3)
    interventions: dict[str, float] | list[str] | None = None  # graph mode: do() for the whole run
    node_effects: bool = True  # graph mode: low/high contrast of every node not fixed by ``interventions``
    node_contrast: str = "spread"  # graph mode: the contrast's levels, "spread" (10th/90th percentile of the
    #                                node's draws) or "range" (the ends of its declared range)

    def __post_init__(self) -> None:
        self._check_graph_mode()
        self.source = str(Path(self.source).expanduser().resolve())
        self.corruptions = _names(self.corruptions)
        self.metrics = _names(self.metrics)
        if self.corruptions == []:
            raise ValueError("--corruptions is empty; leave it out to use all 19")
        if self.corruptions:  # canonical order: the same set of corruptions names the same run (and resumes it)
            rank = {c: i for i, c in enumerate(CORRUPTIONS)}
            self.corruptions = sorted(self.corruptions, key=lambda c: rank.get(c, len(rank)))
        if self.metrics == []:
            raise ValueError("--metrics is empty; leave it out to use every available metric")
        self.models = _names(self.models) or []
        self.references = _names(self.references) or []
        if self.graph is None:
            if self.severities is None:
                self.severities = [1, 3, 5]
            if isinstance(self.severities, (int, str)):
                self.severities = [int(s) for s in str(self.severities).split(",") if s.strip()]
            self.severities = sorted(set(int(s) for s in self.severities))
            if not any(s > 0 for s in self.severities):
                raise ValueError(f"give at least one severity 1-5 (--severities); got {self.severities or 'none'}: "
                                 "clean views are always included, and a clean-only run intervenes on nothing")
        if not self.models:
            raise ValueError("give at least one target model (--models)")
        checks = [(self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
                  (self.n_boot >= 0, f"n_boot must be >= 0, got {self.n_boot}"),
                  (self.workers >= 0, f"workers must be >= 0 (0 = one per core), got {self.workers}"),
                  (self.chunk_images >= 1, f"chunk_images must be >= 1, got {self.chunk_images}"),
                  (self.limit is None or self.limit > 0, f"limit must be positive, got {self.limit}"),
                  (0 < self.view_size <= self.resize_to, "view_size must be positive and <= resize_to")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        check_engine(self.engine, self.ray_address)
        check_out_folder(self.out)

    def _check_graph_mode(self) -> None:
        """Graph mode replaces the grid: resolve and validate the graph and the run's do() up front."""
        from ..conditions import ConditionGraph, check_interventions, graph_to_dict, load_graph, parse_interventions
        from ..conditions.design import CONTRAST_MODES

        if self.graph is None:
            given = [flag for flag, used in (("--intervene (interventions)", bool(self.interventions)),
                                             ("--samples-per-image (samples_per_image)", self.samples_per_image is not None),
                                             ("--no-node-effects (node_effects)", not self.node_effects),
                                             ("--node-contrast (node_contrast)", self.node_contrast != "spread"))
                     if used]
            if given:
                raise ValueError(f"{', '.join(given)} only apply to a condition graph: add --conditions GRAPH")
            return
        if self.corruptions is not None or self.severities is not None:
            raise ValueError("--conditions GRAPH replaces the corruption x severity grid: leave out --corruptions "
                             "and --severities")
        if self.samples_per_image is None:
            self.samples_per_image = 3
        if self.samples_per_image < 1:
            raise ValueError(f"--samples-per-image (samples_per_image) must be >= 1, got {self.samples_per_image}")
        if self.node_contrast not in CONTRAST_MODES:
            raise ValueError(f"--node-contrast must be one of {', '.join(CONTRAST_MODES)}, got {self.node_contrast!r}")
        if isinstance(self.graph, (Mapping, ConditionGraph)):
            self.graph = graph_to_dict(load_graph(self.graph))  # validated; JSON for config.json
        else:
            self.graph = str(self.graph)
            if Path(self.graph).suffix.lower() in (".yaml", ".yml", ".json"):
                self.graph = str(Path(self.graph).expanduser().resolve())
        graph = self.condition_graph()
        if isinstance(self.interventions, Mapping):
            self.interventions = check_interventions(graph, self.interventions)
        else:
            self.interventions = parse_interventions(self.interventions, graph)

    def condition_graph(self):
        """The run's :class:`~iqalign.conditions.ConditionGraph` (None in grid mode)."""
        from ..conditions import load_graph, resolve_graph

        if self.graph is None:
            return None
        return load_graph(self.graph) if isinstance(self.graph, Mapping) else resolve_graph(str(self.graph))

    def contrasts(self) -> dict[str, tuple[float, float]]:
        """Graph mode: node -> (low, high) do() levels of the per-node contrasts (empty without node effects)."""
        from ..conditions.design import contrast_plan

        if self.graph is None or not self.node_effects:
            return {}
        return contrast_plan(self.condition_graph(), self.interventions, self.node_contrast, self.seed)

    def fingerprint(self) -> dict:
        """The settings that decide the rows. ``engine`` is the inference engine: ``ray`` runs ONNX
        Runtime, so a folder started with ``onnx`` resumes with ``ray`` and the other way round. Graph mode
        adds the graph's full definition (not its file name), so an edited graph never resumes old parts."""
        keys = ("source", "corruptions", "severities", "metrics", "models", "references", "limit", "seed",
                "view_size", "resize_to", "chunk_images", "source_kind")
        out = {**{k: getattr(self, k) for k in keys}, "engine": inference_engine(self.engine)}
        if self.graph is not None:
            from ..conditions import graph_to_dict

            out.update(graph=graph_to_dict(self.condition_graph()), samples_per_image=self.samples_per_image,
                       interventions=dict(self.interventions or {}),
                       contrasts={n: list(v) for n, v in self.contrasts().items()})
        return out


def check_out_folder(out: str) -> None:
    if not str(out).strip():
        raise ValueError("--out is empty: name a results folder")
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")


def records_digest(records: Sequence[ImageRecord]) -> str:
    """Identifies the exact image list (ids, files with their size and modification time, labels), so a
    changed dataset, even a file replaced under the same name, never resumes old parts."""
    h = hashlib.sha256()
    for r in records:
        try:
            st = r.path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{r.image_id}\x1f{r.path}\x1f{stamp}\x1f{r.label}\n".encode())
    return h.hexdigest()


def select_subset(records: Sequence[ImageRecord], limit: int | None) -> list[ImageRecord]:
    """``limit`` evenly spaced records, so a subset of a sorted class tree still spans its classes."""
    records = list(records)
    if limit is None or limit >= len(records):
        return records
    if limit <= 0:
        raise ValueError(f"--limit must be positive, got {limit}")
    idx = np.unique(np.linspace(0, len(records) - 1, limit).round().astype(int))
    return [records[i] for i in idx]


@dataclass(frozen=True)
class BenchmarkWork(ChunkWork):
    """One chunk of the benchmark: every condition of every photo, its image metrics, then the models."""

    conditions: tuple[Condition, ...]
    seed: int
    image_metrics: tuple[str, ...]
    task_metrics: tuple[str, ...]
    targets: tuple[str, ...]
    references: tuple[str, ...]
    view_size: int
    resize_to: int
    engine: str  # inference engine: "onnx" or "torch"
    graph: Any = None  # a ConditionGraph: graph mode (``conditions`` is then empty)
    samples: int = 0
    interventions: tuple[tuple[str, float], ...] = ()
    contrasts: tuple[tuple[str, float, float], ...] = ()  # (node, low, high) per contrasted node

    def views(self, image_id: str) -> list[tuple[dict, Callable[[np.ndarray], np.ndarray]]]:
        """Each view of one photo: its row fields and how to make it from the photo's base view."""
        if self.graph is None:
            return [({"condition": c.key, "corruption": c.corruption, "severity": c.severity},
                     lambda base, c=c: apply_condition(base, c, seed=self.seed, image_id=image_id))
                    for c in self.conditions]
        from ..conditions import apply_graph_sample
        from ..conditions.design import CLEAN, graph_views

        out = []
        for v in graph_views(self.graph, image_id, seed=self.seed, samples=self.samples,
                             interventions=dict(self.interventions),
                             contrasts={n: (lo, hi) for n, lo, hi in self.contrasts}):
            fields = {"corruption": "none" if v.arm == CLEAN else "graph", "severity": 0.0 if v.arm == CLEAN
                      else float("nan"), **v.fields(self.graph)}
            if v.arm == CLEAN:
                make = np.array
            else:
                def make(base, v=v):
                    return apply_graph_sample(base, self.graph, v.values, seed=self.seed,
                                              image_id=v.apply_id(image_id))[0]
            out.append((fields, make))
        return out

    def model_names(self) -> list[str]:
        return list(dict.fromkeys(self.targets + (self.references if self.task_metrics else ())))

    def prepare(self, record: ImageRecord) -> dict:
        """Decode one photo, apply every condition, compute the image metrics on each view."""
        from ..metrics.registry import get_metric

        metrics = [get_metric(n) for n in self.image_metrics]
        try:
            base = load_view(record.path, size=self.view_size, resize_to=self.resize_to)
        except (ImageDecodeError, OSError, ValueError) as exc:
            return {"error": str(exc)}
        views, values, metas, problems = [], [], [], []
        for meta, make in self.views(record.image_id):
            where = meta["condition"] + (f" (draw {meta['sample']})" if meta.get("sample", -1) >= 0 else "")
            try:
                view = make(base)
            except Exception as exc:
                problems.append(f"{where}: intervention failed: {type(exc).__name__}: {exc}")
                continue
            vals, errs = image_metric_values(view, metrics)
            problems += [f"{where}: {e}" for e in errs]
            views.append(view)
            values.append(vals)
            metas.append(meta)
        return {"views": views, "values": values, "metas": metas, "problems": problems}

    def finish(self, records, prepared) -> tuple[pd.DataFrame, list[dict]]:
        """Run the models on the prepared views of one chunk and build its rows."""
        from ..metrics.registry import get_metric

        meta, views, problems = [], [], []
        for record, prep in zip(records, prepared):
            if "error" in prep:
                problems.append({"path": str(record.path), "reason": prep["error"]})
                continue
            problems += [{"path": str(record.path), "reason": p} for p in prep["problems"]]
            for fields, view, vals in zip(prep["metas"], prep["views"], prep["values"]):
                meta.append({"image_id": record.image_id, "path": str(record.path), "label": record.label,
                             "class_name": record.class_name, **fields, **vals})
                views.append(view)
        frame = pd.DataFrame(meta)
        if not views:
            return frame, problems
        labels = frame["label"].to_numpy(dtype=np.int64)
        task_metrics = [get_metric(n) for n in self.task_metrics]
        if task_metrics:
            probs = reference_probabilities(views, self.references, self.engine)
            for name, values in task_metric_values(probs, labels, task_metrics).items():
                frame[name] = values
        for model in self.targets:
            perf = performance(load_for_inference(model, self.engine).predict_proba(views), labels)
            for key, values in perf.items():
                frame[f"{model}.{key}"] = values
        return frame, problems


def run_benchmark(config: BenchmarkConfig, quiet: bool = False) -> dict:
    """Run (or resume) a benchmark; write rows, alignment, the causal tables and config into ``config.out``.

    Returns a dict with the rows and alignment DataFrames, the problems, the output folder, and the causal
    tables written (``sensitivity`` and ``decomposition`` for a grid; ``node_effects`` and ``decomposition``
    for a condition graph) as DataFrames.
    """
    graph = config.condition_graph()
    conditions = condition_grid(config.corruptions, config.severities) if graph is None else []
    records, found_problems = discover(config.source, kind=config.source_kind)
    problems = [{"path": str(p.path), "reason": p.reason} for p in found_problems]
    problems += [{"path": str(r.path), "reason": "no label (the benchmark needs the true class)"}
                 for r in records if r.label is None]
    records = select_subset([r for r in records if r.label is not None], config.limit)
    if not records:
        raise ValueError(f"no labelled images found in {config.source}: use a CSV manifest with a label column, "
                         "or an ImageFolder tree of WordNet-id sub-folders (see `iqalign benchmark --help`)")

    metrics = resolve_metrics(config.metrics, have_labels=True)
    image_metrics = [m for m in metrics if m.image_fn is not None]
    task_metrics = [m for m in metrics if m.task_fn is not None]
    targets = config.models
    references = config.references if task_metrics else []
    if task_metrics and not references:
        raise ValueError(f"task-guided metrics {[m.name for m in task_metrics]} need at least one reference model "
                         "(--references)")
    work = BenchmarkWork(tuple(conditions), config.seed, tuple(m.name for m in image_metrics),
                         tuple(m.name for m in task_metrics), tuple(targets), tuple(references), config.view_size,
                         config.resize_to, inference_engine(config.engine), graph, config.samples_per_image,
                         tuple((config.interventions or {}).items()),
                         tuple((n, lo, hi) for n, (lo, hi) in config.contrasts().items()))
    work.load_models()  # fail early (bad name) and export once, before the work

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    store = PartStore(out, {**config.fingerprint(), "images": records_digest(records)})
    chunks = [records[i:i + config.chunk_images] for i in range(0, len(records), config.chunk_images)]
    todo = [i for i in range(len(chunks)) if not store.done(i)]
    if graph is not None:
        from ..conditions.design import views_per_image

        per_image = views_per_image(config.samples_per_image, len(work.contrasts))
        what = f"{per_image} views (graph {graph.name}: clean + {config.samples_per_image} draws" + (
            f" x (1 + 2 x {len(work.contrasts)} node contrasts, {config.node_contrast}))" if work.contrasts else ")")
    else:
        what = f"{len(conditions)} conditions"
    if not quiet:
        print(f"iqalign benchmark: {len(records)} images x {what}, "
              f"{len(metrics)} metrics, targets {targets}, references {references}; "
              f"{len(chunks) - len(todo)}/{len(chunks)} chunks already done", file=sys.stderr, flush=True)

    progress = Progress(sum(len(chunks[i]) for i in todo), quiet)
    with closing(computed_chunks(work, {i: chunks[i] for i in todo}, engine=config.engine, workers=config.workers,
                                 ray_address=config.ray_address, quiet=quiet)) as done:
        for i, frame, chunk_problems in done:
            store.write(i, frame, chunk_problems)
            progress.update(len(chunks[i]))

    rows = store.read_all(len(chunks))
    rows.to_parquet(out / "rows.parquet", index=False)
    problems += store.read_problems(len(chunks))
    pd.DataFrame(problems, columns=["path", "reason"]).to_csv(out / "problems.csv", index=False)

    saved_config = {
        "command": "benchmark", "config": asdict(config),
        "conditions": [c.key for c in conditions] if graph is None else
        (list(dict.fromkeys(rows["condition"])) if len(rows) else []),
        **({"graph": graph_record(config, graph, work.contrasts)} if graph is not None else {}),
        "targets": targets, "references": references,
        "excluded_pairs": [{"metric": m.name, "model": t, "why": "model is one of the references"}
                           for m in task_metrics for t in targets if t in references],
        "metrics": [m.spec.to_dict() for m in metrics],
        "models": {n: load_for_inference(n, work.engine).describe() for n in targets + references},
        "execution": execution_info(config.engine, config.workers, config.ray_address),
        "n_images": int(rows["image_id"].nunique()) if len(rows) else 0, "n_rows": int(len(rows)),
        "problems": problems, "environment": environment(),
    }
    (out / "config.json").write_text(json.dumps(saved_config, indent=2, default=str))
    alignment = write_analysis(out, rows, saved_config, n_boot=config.n_boot, seed=config.seed)
    result = {"rows": rows, "alignment": alignment, "out": out, "problems": problems}
    for name in ("node_effects", "sensitivity", "decomposition"):  # the causal tables just written
        if (out / f"{name}.csv").is_file():
            result[name] = pd.read_csv(out / f"{name}.csv")
    return result


def graph_record(config: BenchmarkConfig, graph, contrasts: Sequence[tuple[str, float, float]]) -> dict:
    """config.json's account of a graph run: the full graph, its draws, the run's do() and the contrasts."""
    from ..conditions import graph_to_dict
    from ..conditions.design import views_per_image

    return {"spec": config.graph if isinstance(config.graph, str) else "(given as a mapping)",
            "definition": graph_to_dict(graph), "samples_per_image": config.samples_per_image,
            "interventions": dict(config.interventions or {}), "node_contrast": config.node_contrast,
            "contrasts": {n: [lo, hi] for n, lo, hi in contrasts}, "apply_order": list(graph.apply_order()),
            "views_per_image": views_per_image(config.samples_per_image, len(contrasts))}


def write_analysis(out: Path, rows: pd.DataFrame, saved_config: dict, n_boot: int, seed: int) -> pd.DataFrame:
    """Alignment from rows (left out: task metrics whose references include the model); csv + md.
    Graph runs: alignment on the graph's observational draws, and node effects in place of cell sensitivity."""
    from ..analysis import alignment_table
    from .graph_analysis import observed_rows, write_graph_causal_analysis

    all_rows = rows
    graph_mode = "graph" in saved_config
    if graph_mode:
        rows = observed_rows(rows)
    specs = {m["name"]: m for m in saved_config["metrics"]}
    references = set(saved_config["references"])
    tables = []
    for model in saved_config["targets"]:
        usable = [n for n, s in specs.items() if not (s["family"] == "task" and model in references)]
        usable = [n for n in usable if n in rows and rows[n].notna().any()]
        if usable and f"{model}.top1" in rows:
            tables.append(alignment_table(rows, usable, [model], {n: specs[n]["higher_is_better"] for n in usable},
                                          targets=TARGETS, n_boot=n_boot, seed=seed))
    alignment = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=["metric", "model", "target", "scope", "n", "spearman", "spearman_lo", "spearman_hi", "kendall", "auroc"])
    alignment.to_csv(out / "alignment.csv", index=False)
    (out / "alignment.md").write_text(render_alignment_md(alignment, rows, saved_config, n_boot))
    if graph_mode:
        write_graph_causal_analysis(out, all_rows, saved_config, n_boot=n_boot, seed=seed)
    else:
        write_causal_analysis(out, rows, saved_config, n_boot=n_boot, seed=seed)
    return alignment


N_PERM = 1000
"""Permutations behind decomposition.csv's p-values (the smallest possible p is 1 / (N_PERM + 1))."""


def write_causal_analysis(out: Path, rows: pd.DataFrame, saved_config: dict, n_boot: int, seed: int) -> dict:
    """sensitivity.csv, decomposition.csv, population.csv and causal.md (docs/causal.md explains them);
    the same exclusions as alignment: a task metric is never judged against its own reference model."""
    from ..analysis.causal import causal_markdown, causal_tables, write_causal_tables

    specs = {m["name"]: m for m in saved_config["metrics"]}
    references = set(saved_config["references"])
    targets = [m for m in saved_config["targets"] if f"{m}.top1" in rows]
    metrics = [n for n in specs if n in rows and rows[n].notna().any()]
    exclude = [(n, model) for model in targets for n in metrics
               if specs[n]["family"] == "task" and model in references]
    tables = causal_tables(rows, metrics, targets, {n: specs[n]["higher_is_better"] for n in metrics},
                           targets=TARGETS, n_boot=n_boot, n_perm=N_PERM, seed=seed, exclude=exclude)
    write_causal_tables(out, tables)
    head = ["# Causal analysis: does each metric move with the models because both respond to the imaging "
            "conditions?", "",
            "Columns of sensitivity.csv, decomposition.csv and population.csv: docs/causal.md. Below, p_true "
            f"(probability of the true class) as the performance M; {n_boot} bootstrap resamples over photos, "
            f"{N_PERM} permutations for the p-values.", "", ""]
    (out / "causal.md").write_text("\n".join(head) + causal_markdown(tables))
    return tables


def render_alignment_md(alignment: pd.DataFrame, rows: pd.DataFrame, saved_config: dict, n_boot: int) -> str:
    from ..analysis import to_markdown
    from ..reports import overview_markdown

    cfg = saved_config["config"]
    conditions = saved_config["conditions"]
    n_images, references = saved_config["n_images"], saved_config["references"]
    if "graph" in saved_config:
        g = saved_config["graph"]
        do = ", ".join(f"{k}={v:g}" for k, v in g["interventions"].items())
        what = (f"conditions: {g['samples_per_image']} draw(s) per photo from condition graph "
                f"`{g['definition']['name']}`" + (f" under do({do})" if do else "") + f"; the {len(rows)} "
                "observational rows are analysed here (clean views and node contrasts: causal.md)")
        per_photo = g["samples_per_image"]
    else:
        corruptions = list(dict.fromkeys(c.split("@")[0] for c in conditions if c != "clean"))
        severities = sorted({int(c.split("@")[1]) for c in conditions if c != "clean"})
        what = (f"conditions: clean + {len(corruptions)} corruptions x severities {severities} "
                f"({len(conditions)} per photo, {len(rows)} rows)")
        per_photo = len(conditions)
    head = [
        "# Alignment of quality metrics with model performance", "",
        f"- images: {n_images} from `{cfg['source']}`; {what}; seed {cfg['seed']}",
        f"- target models (performance M): {', '.join(saved_config['targets'])}",
        f"- reference models (task-guided metrics): {', '.join(references) or 'none'}"
        + (" (never scored against themselves)" if references else ""),
        "- every metric is oriented so that higher = better quality: a useful metric has rho > 0 with "
        "top1/top5/p_true and rho < 0 with loss; AUROC is for flagging top-1 errors by low quality",
        f"- intervals: 95% bootstrap over source images ({n_boot} resamples); scope `all` pools rows, "
        "`within` correlates the conditions of one photo (needs >= 3 per photo) and averages over photos",
    ]
    if n_images < FEW_PHOTOS:
        head.append(f"- **only {n_images} photo(s)**: intervals over so few photos are unreliable; use more "
                    "photos before drawing conclusions")
    if per_photo < 3:
        head.append("- fewer than 3 conditions per photo: the `within` scope cannot be computed (n/a)"
                    + (" (use --samples-per-image 3 or more)" if "graph" in saved_config else ""))
    families = {m["name"]: m["family"] for m in saved_config["metrics"]}
    return ("\n".join(head) + "\n\n## Overview\n\n" + overview_markdown(alignment, families)
            + "\n## Full table\n\n" + to_markdown(alignment) + "\n")


def reanalyse(out: str | Path, n_boot: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """Recompute alignment.csv/.md of a finished benchmark from its rows.parquet and config.json."""
    out = Path(out)
    for name in ("rows.parquet", "config.json"):
        if not (out / name).is_file():
            raise FileNotFoundError(f"{out / name} not found: is {out} a finished benchmark folder?")
    saved = json.loads((out / "config.json").read_text())
    if saved.get("command", "benchmark") != "benchmark":  # checked before anything is rewritten
        raise ValueError(f"{out} holds the results of `iqalign {saved['command']}`, not of a benchmark; "
                         + ("rerun `iqalign simulate` to recompute its analysis" if saved["command"] == "simulate"
                            else "analyse works on benchmark folders"))
    cfg = saved["config"]
    if n_boot is not None and n_boot != cfg["n_boot"]:  # config.json says how the tables beside it were made
        cfg["n_boot"] = n_boot
        (out / "config.json").write_text(json.dumps(saved, indent=2, default=str))
    return write_analysis(out, pd.read_parquet(out / "rows.parquet"), saved,
                          n_boot=cfg["n_boot"], seed=cfg["seed"] if seed is None else seed)
