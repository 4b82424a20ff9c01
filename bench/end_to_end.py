"""End to end: each notebook's time and the whole course's, per profile; peak memory.

    .venv/bin/python bench/end_to_end.py [--profiles smoke offline] [--quick]

Runs `python -m companion course --profile P` in a subprocess with COURSE_RUNS_DIR
set to a fresh temporary folder (so nothing saved earlier is reused), reads the
per-notebook times from runs/<P>/summary.md, and takes the peak resident memory
from resource.getrusage(RUSAGE_CHILDREN).ru_maxrss: the largest peak of any single
process of the tree (the course runner or one notebook kernel), not their sum.
Each profile is measured from its own helper process, so one profile's peak does
not carry into the next. Profiles measured earlier and not named this time stay in
the result file with their own command and date. --quick runs a one-cell notebook
through the same path.
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
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {"returncode": done.returncode, "wall_seconds": round(seconds, 1),
            "peak_rss_mib": round(peak_kib / 1024, 1),
            "stderr_tail": done.stderr.strip().splitlines()[-3:]}


def measure(profile: str, quick: bool) -> dict:
    """One profile, measured from a fresh helper process (its own RUSAGE_CHILDREN)."""
    with tempfile.TemporaryDirectory(prefix="course-e2e-") as tmp:
        runs, folder = Path(tmp) / "runs", None
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


def earlier_profiles(path: Path) -> list[dict]:
    """The profiles of an earlier result file, each with its own command and date."""
    if not path.exists():
        return []
    record = json.loads(path.read_text(encoding="utf-8"))
    stamp = {key: record.get(key) for key in ("command", "date", "machine")}
    return [{**stamp, **p} for p in record.get("profiles", [])]


def main(argv: list[str] | None = None) -> dict | None:
    """Time the course in each profile; print and write bench/end_to_end.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["smoke", "offline"],
                        choices=["smoke", "offline", "full"])
    parser.add_argument("--quick", action="store_true", help="a one-cell notebook")
    parser.add_argument("--helper", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.helper:  # inside the helper process: run one course, print JSON
        profile, runs, folder = args.helper
        notebooks = Path(folder) if folder else None
        print(json.dumps(measure_one(profile, Path(runs), notebooks)))
        return None
    if not args.quick and not course_notebooks():
        print(f"skipped: no notebooks named like 00_name.ipynb in {NOTEBOOKS} yet")
        return None
    profiles = ["smoke"] if args.quick else args.profiles
    results = []
    for profile in profiles:
        print(f"running the course, profile {profile} ...", flush=True)
        result = measure(profile, args.quick)
        # each profile keeps its own stamp, so one can be measured again alone
        result.update({"command": command("end_to_end.py", argv), "date": now(),
                       "machine": machine()})
        results.append(result)
        for row in result.get("notebooks", []):
            print(f"  {row['notebook']:32s} {row['seconds']:8.1f} s  {row['status']}")
        print(f"  total {result.get('total_seconds')} s (wall "
              f"{result.get('wall_seconds')} s), peak RSS {result.get('peak_rss_mib')} "
              f"MiB, all ok: {result.get('all_ok')}")
    if not args.quick:  # a quick run is no measurement: it keeps nothing
        results += [p for p in earlier_profiles(args.out) if p["profile"] not in profiles]
    return write_result(args.out, "end_to_end.py", argv, {
        "quick": args.quick, "notebooks_found": [p.name for p in course_notebooks()],
        "peak_rss_note": "largest single process of the tree (RUSAGE_CHILDREN)",
        "profiles": results})


if __name__ == "__main__":
    main()
