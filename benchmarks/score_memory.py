"""Peak memory of `iqalign score` at 1,000 vs 10,000 images: it must stay flat (streaming, no
whole-dataset arrays).

    python benchmarks/score_memory.py [--sizes 1000,10000] [--metrics task_maxprob,brisque,sharpness]

Each size runs `iqalign score` as a subprocess over photo files (the ImageNet sample's 800 JPEGs,
linked again under new names to reach the size). The peak of the summed resident memory of that
process and all its descendants (workers, forkserver) is sampled from /proc every 0.1 s.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import available_cores, cpu_name  # noqa: E402
from score_throughput import REPO, photo_folder  # noqa: E402


def tree_rss_mib(root_pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            children.setdefault(int(fields[1]), []).append(pid)  # fields[1] = ppid
            rss[pid] = int(fields[21])  # pages
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    import os

    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(folder: Path, out: Path, metrics: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "iqalign.cli", "score", str(folder), "--out", str(out),
                             "--metrics", metrics, "--quiet"], stdout=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mib(proc.pid))
        time.sleep(0.1)
    if proc.returncode:
        raise SystemExit(f"iqalign score failed with exit code {proc.returncode}")
    return peak, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--metrics", default="task_maxprob,brisque,sharpness")
    ap.add_argument("--imagenet", type=Path, default=REPO.parent / "shared" / "data" / "imagenet-sample")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            folder = Path(tmp) / f"photos{n}"
            folder.mkdir()
            photo_folder(args.imagenet, n, folder)
            peak, secs = measure(folder, Path(tmp) / f"out{n}", args.metrics)
            rows.append((n, peak, secs))
    print("| images | peak resident memory, process tree (MiB) | seconds | images/s |")
    print("|---:|---:|---:|---:|")
    for n, peak, secs in rows:
        print(f"| {n} | {peak:.0f} | {secs:.1f} | {n / secs:.1f} |")
    print(f"\npeak at {rows[-1][0]} / peak at {rows[0][0]}: {rows[-1][1] / rows[0][1]:.3f}")
    print(f"\nMachine: {cpu_name()}, {available_cores()} cores. Command: "
          f"`python benchmarks/score_memory.py --sizes {args.sizes} --metrics {args.metrics}`")


if __name__ == "__main__":
    main()
