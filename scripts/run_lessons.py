"""Run lessons top to bottom in one profile and record wall time and peak memory (the README's runtime table).

    python scripts/run_lessons.py --profile cpu                  # every solutions notebook, cpu profile
    python scripts/run_lessons.py --profile smoke 02 03          # some lessons
    python scripts/run_lessons.py --profile gpu --target notebooks
    python scripts/run_lessons.py --profile gpu 08 --results /tmp/rt_08.json --verbose   # several at once; cell times

Each notebook runs in a fresh kernel with ``COURSE_PROFILE`` set, exactly as "restart and run all" would. The
executed copy (with every output: the measured tables and plots) goes to ``build/executed/<profile>/``; wall
time, peak resident memory of the kernel and, with CUDA, peak GPU memory allocated by torch go to
``bench/results/lesson_runtimes.json``, keyed by profile and lesson, with the hardware named. With
``COURSE_RECORD_FIGURES=1`` set for the kernel, lessons that measure figures quoted elsewhere (the interview bank)
save them to ``bench/results/lessonNN_<profile>.json`` (:mod:`helpers.results`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers.env import hardware
from helpers.results import RECORD_ENV_VAR

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "lesson_runtimes.json"
PEAK_CELL = """\
import json as _json, resource as _resource, torch as _torch
print("PEAK", _json.dumps({
    "peak_rss_mib": round(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss / 1024),
    "peak_gpu_mib": round(_torch.cuda.max_memory_allocated() / 2**20) if _torch.cuda.is_available() else None,
    "torch_threads": _torch.get_num_threads(),
}))
"""


def run_notebook(path: Path, profile: str, out_dir: Path, cell_timeout: int, verbose: bool = False) -> dict:
    """Execute one notebook in a fresh kernel; return its measurements (raises if a cell fails)."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    os.environ["COURSE_PROFILE"] = profile
    os.environ[RECORD_ENV_VAR] = "1"  # lessons save their measured figures (helpers.results)
    start = time.perf_counter()

    def report_cell(cell, cell_index, execute_reply):  # progress in the log: which cell took how long
        if verbose:
            print(f"  cell {cell_index} done at {time.perf_counter() - start:.0f} s", flush=True)

    client = NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}, on_cell_executed=report_cell)
    try:
        client.execute()
    finally:
        os.environ.pop(RECORD_ENV_VAR, None)
    seconds = time.perf_counter() - start
    peak_output = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    figures = json.loads(peak_output.split("PEAK", 1)[1])
    notebook.cells.pop()
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)
    return {"seconds": round(seconds, 1), **figures}


def merge(path: Path, profile: str, lesson: str, entry: dict) -> dict:
    """Put ``entry`` at ``[profile][lesson]`` of the JSON file at ``path``, re-reading it first so that other
    entries (and runs of other lessons finishing meanwhile) are kept; return the data."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data.setdefault(profile, {})[lesson] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers, e.g. 02 05 (default: all)")
    parser.add_argument("--profile", required=True, choices=("smoke", "cpu", "gpu"))
    parser.add_argument("--target", default="solutions", choices=("solutions", "notebooks"))
    parser.add_argument("--cell-timeout", type=int, default=3600)
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="runtime file to merge into (separate files let several runs go at once)")
    parser.add_argument("--verbose", action="store_true", help="print when each cell finishes")
    args = parser.parse_args(argv)
    paths = sorted((ROOT / args.target).glob("[0-9][0-9]_*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if p.name[:2] in args.lessons]
        if not paths:
            parser.error(f"no {args.target} notebook matches {args.lessons}")
    out_dir = ROOT / "build" / "executed" / args.profile
    for path in paths:
        print(f"{path.relative_to(ROOT)} ({args.profile}) ...", flush=True)
        figures = run_notebook(path, args.profile, out_dir, args.cell_timeout, args.verbose)
        figures.update(hardware=hardware(), target=args.target,
                       date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"))
        merge(args.results, args.profile, path.stem, figures)
        print(f"  {figures['seconds'] / 60:.1f} min, peak RSS {figures['peak_rss_mib']} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
