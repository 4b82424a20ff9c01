"""End to end: each notebook's time and the whole course's, per profile; peak memory.

    .venv/bin/python bench/end_to_end.py [--profiles smoke offline] [--quick]
                                         [--runs-dir DIR]

Runs `python -m companion course --profile P` in a subprocess with COURSE_RUNS_DIR
set to an empty folder (a fresh temporary one, or --runs-dir, which must not exist
yet: then the executed notebooks stay there to be read), so nothing saved earlier is
reused, and reads the per-notebook times from runs/<P>/summary.md. Memory: the
peak of the whole process tree's resident memory (the runner and its notebook
kernels together, summed, sampled every 0.2 s with psutil), and the largest peak
of any single process (resource.getrusage(RUSAGE_CHILDREN).ru_maxrss, measured
from a helper process per profile so one profile's peak does not carry into the
next). Each notebook's time and the total are printed with their ratio to the
previously recorded run of that profile (before / now: above 1 is faster).
Profiles measured earlier and not named this time stay in the result file with
their own command and date. --quick runs a one-cell notebook through the same path.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from common import BENCH_DIR, PROJECT_ROOT, command, machine, now, write_result

OUT = BENCH_DIR / "end_to_end.json"
NOTEBOOKS = PROJECT_ROOT / "notebooks"
ROW = re.compile(r"^\|\s*([^|*]+?)\s*\|\s*([\d.]+)\s*\|\s*([^|]*?)\s*\|$")
QUICK_NOTEBOOK = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a1",
                             "metadata": {}, "outputs": [], "source": "print(1 + 1)"}],
                  "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                              "display_name": "Python 3"}},
                  "nbformat": 4, "nbformat_minor": 5}


def course_notebooks() -> list[Path]:
    """The course's notebooks as `python -m companion course` finds them."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def read_summary(path: Path) -> list[dict]:
    """Rows (notebook, seconds, status) of a course summary.md."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if (match := ROW.match(line.strip())) and match[1] != "notebook":
            status = re.sub(r"\x1b\[[0-9;]*m", "", match[3])  # traceback colours
            rows.append({"notebook": match[1], "seconds": float(match[2]),
                         "status": status})
    return rows


def measure_one(profile: str, runs: Path, folder: Path | None) -> dict:
    """Run the course once in a subprocess; wall time, exit code and peak RSS (MiB)."""
    env = {**os.environ, "COURSE_RUNS_DIR": str(runs), "HF_HUB_OFFLINE": "1",
           "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-m", "companion", "course", "--profile", profile]
    if folder is not None:  # --quick: the same runner on a one-cell notebook
        cmd = [sys.executable, "-c", "import sys; from companion.course import "
               "run_course; run_course(sys.argv[1], folder=sys.argv[2])", profile,
               str(folder)]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, text=True,
                                   stdout=subprocess.DEVNULL, stderr=err)
        tree_peak = tree_rss_peak(process)
        err.seek(0)
        stderr = err.read()
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {"returncode": process.returncode, "wall_seconds": round(seconds, 1),
            "peak_tree_rss_mib": round(tree_peak / 2**20, 1),
            "peak_rss_mib": round(peak_kib / 1024, 1),
            "stderr_tail": stderr.strip().splitlines()[-3:]}


def tree_rss_peak(process: subprocess.Popen, every: float = 0.2) -> int:
    """Wait for `process`; the peak of its tree's summed resident memory (bytes)."""
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        total = 0
        try:
            for member in [root, *root.children(recursive=True)]:
                try:
                    total += member.memory_info().rss
                except psutil.NoSuchProcess:
                    pass  # ended between the listing and the reading
        except psutil.NoSuchProcess:
            break
        peak = max(peak, total)
        time.sleep(every)
    process.wait()
    return peak


def measure(profile: str, quick: bool, runs_dir: Path | None = None) -> dict:
    """One profile, measured from a fresh helper process (its own RUSAGE_CHILDREN)."""
    with tempfile.TemporaryDirectory(prefix="course-e2e-") as tmp:
        runs, folder = Path(runs_dir or Path(tmp) / "runs"), None
        if quick:
            folder = Path(tmp) / "notebooks"
            folder.mkdir()
            (folder / "00_quick.ipynb").write_text(json.dumps(QUICK_NOTEBOOK))
        helper = subprocess.run(
            [sys.executable, __file__, "--helper", profile, str(runs),
             str(folder or "")],
            cwd=PROJECT_ROOT, capture_output=True, text=True)
        if helper.returncode != 0:
            return {"profile": profile, "error": helper.stderr.strip()[-300:]}
        result = json.loads(helper.stdout.strip().splitlines()[-1])
        summary = runs / profile / "summary.md"
        result["notebooks"] = read_summary(summary) if summary.exists() else []
    result["profile"] = profile
    result["total_seconds"] = round(sum(r["seconds"] for r in result["notebooks"]), 1)
    result["all_ok"] = bool(result["notebooks"]) and all(
        r["status"] == "ok" for r in result["notebooks"])
    return result


def with_ratios(result: dict, before: dict | None) -> dict:
    """Each notebook's and the total's time before (the previous record) and before/now."""
    if not before:
        return result
    then = {row["notebook"]: row["seconds"] for row in before.get("notebooks", [])}
    for row in result["notebooks"]:
        if row["notebook"] in then and row["seconds"]:
            row["before_seconds"] = then[row["notebook"]]
            row["ratio"] = round(then[row["notebook"]] / row["seconds"], 2)
    if before.get("total_seconds") and result["total_seconds"]:
        result["before"] = {"date": before.get("date"),
                            "total_seconds": before["total_seconds"],
                            "peak_tree_rss_mib": before.get("peak_tree_rss_mib")}
        result["total_ratio"] = round(before["total_seconds"] / result["total_seconds"], 2)
    return result


def earlier_profiles(path: Path) -> list[dict]:
    """The profiles of an earlier result file, each with its own command and date.

    The ratios compare with a course that ran to its end: a profile whose earlier
    run had a failing notebook is measured afresh (the failure is not a baseline).
    """
    if not path.exists():
        return []
    record = json.loads(path.read_text(encoding="utf-8"))
    stamp = {key: record.get(key) for key in ("command", "date", "machine")}
    return [{**stamp, **p} for p in record.get("profiles", [])
            if all(row.get("status") == "ok" for row in p.get("notebooks", []))]


def main(argv: list[str] | None = None) -> dict | None:
    """Time the course in each profile; print and write bench/end_to_end.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["smoke", "offline"],
                        choices=["smoke", "offline", "full"])
    parser.add_argument("--quick", action="store_true", help="a one-cell notebook")
    parser.add_argument("--helper", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="an empty folder to run in and keep (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.runs_dir is not None and args.runs_dir.exists():
        parser.error(f"--runs-dir {args.runs_dir} exists: name a new folder, so that "
                     "nothing saved earlier is reused")
    if args.helper:  # inside the helper process: run one course, print JSON
        profile, runs, folder = args.helper
        notebooks = Path(folder) if folder else None
        print(json.dumps(measure_one(profile, Path(runs), notebooks)))
        return None
    if not args.quick and not course_notebooks():
        print(f"skipped: no notebooks named like 00_name.ipynb in {NOTEBOOKS} yet")
        return None
    profiles = ["smoke"] if args.quick else args.profiles
    results, earlier = [], {p["profile"]: p for p in earlier_profiles(args.out)}
    for profile in profiles:
        print(f"running the course, profile {profile} ...", flush=True)
        result = measure(profile, args.quick, args.runs_dir)
        if not args.quick:
            result = with_ratios(result, earlier.get(profile))
        # each profile keeps its own stamp, so one can be measured again alone
        result.update({"command": command("end_to_end.py", argv), "date": now(),
                       "machine": machine()})
        results.append(result)
        for row in result.get("notebooks", []):
            was = (f"  (was {row['before_seconds']:.1f} s: {row['ratio']:.2f}x)"
                   if "ratio" in row else "")
            print(f"  {row['notebook']:32s} {row['seconds']:8.1f} s  {row['status']}{was}")
        was = (f" (was {result['before']['total_seconds']} s: {result['total_ratio']}x)"
               if "total_ratio" in result else "")
        print(f"  total {result.get('total_seconds')} s{was}, wall "
              f"{result.get('wall_seconds')} s; peak memory of the process tree "
              f"{result.get('peak_tree_rss_mib')} MiB (largest process "
              f"{result.get('peak_rss_mib')} MiB); all ok: {result.get('all_ok')}")
    if not args.quick:  # a quick run is no measurement: it keeps nothing
        results += [p for name, p in earlier.items() if name not in profiles]
    return write_result(args.out, "end_to_end.py", argv, {
        "quick": args.quick, "notebooks_found": [p.name for p in course_notebooks()],
        "peak_rss_note": "peak_tree_rss_mib: the process tree summed (psutil, every "
                         "0.2 s); peak_rss_mib: largest single process (RUSAGE_CHILDREN)",
        "profiles": results})


if __name__ == "__main__":
    main()
