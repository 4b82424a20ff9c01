"""Smoke test of the benchmark scripts: each main() runs on tiny settings (--quick),
and bench/RESULTS.md has a filled table for every benchmark."""

import json
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))


@pytest.mark.slow  # CI's slow tier (make test-slow)
def test_every_benchmark_runs_quick(tmp_path):
    import run_all

    results = run_all.main(["--quick", "--out-dir", str(tmp_path)])
    for name in ("train_speed", "step_speed", "parallel_speed", "eval_speed",
                 "end_to_end", "quality-bundled", "tradeoff-quick"):
        record = json.loads((tmp_path / f"{name}.json").read_text())
        assert record.get("date") and (record.get("machine") or record.get("cores"))
    speed = json.loads((tmp_path / "train_speed.json").read_text())["results"][0]
    assert speed["companion_tokens_per_s"] > 0 and speed["trainer_tokens_per_s"] > 0
    step = json.loads((tmp_path / "step_speed.json").read_text())
    assert [x["seconds_per_step"] > 0 for x in step["setups"]] == [True, True]
    pair = json.loads((tmp_path / "parallel_speed.json").read_text())["runs"]
    assert [len(x["seconds_per_step"]) for x in pair] == [1, 1, 2, 2]
    assert all(s > 0 for x in pair for s in x["seconds_per_step"])
    e2e = json.loads((tmp_path / "end_to_end.json").read_text())["profiles"][0]
    assert e2e["all_ok"] and e2e["peak_rss_mib"] > 0
    # the tree (runner + kernel) holds about as much as its largest process or more
    # (sampled every 0.2 s, so a short spike of one process may be missed)
    assert e2e["peak_tree_rss_mib"] >= 0.9 * e2e["peak_rss_mib"] > 0
    quality = json.loads((tmp_path / "quality-bundled.json").read_text())
    stages = set(quality["summary"]["tiny-gpt2"])
    assert {"baseline", "stabilised", "sequential"} <= stages
    assert "Quick run" in results.read_text()


def test_recorded_results_have_rows():
    text = (BENCH / "RESULTS.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    titles = [s.splitlines()[0] for s in sections]
    for wanted in ("train_speed", "step_speed", "parallel_speed", "eval_speed",
                   "end_to_end", "quality.py --data semeval", "quality.py --data bundled",
                   "tradeoff.py --data semeval", "tradeoff.py --data bundled"):
        body = next((s for t, s in zip(titles, sections) if wanted in t), None)
        assert body is not None, f"no section for {wanted} in RESULTS.md"
        if "--data semeval" in wanted and "Not run yet" in body:
            continue  # the SemEval files are not on every machine
        rows = [line for line in body.splitlines() if line.startswith("| ")
                and "`" in line]  # a data row names its command
        assert rows, f"the {wanted} table has no rows"


def test_a_budget_sweep_renders_one_row_per_run():
    import run_all

    record = json.loads((BENCH / "sweep-semeval.json").read_text())
    rows = [line for line in run_all.render_sweep(record).splitlines()
            if line.startswith("| ") and "`" in line]
    assert len(rows) == len(record["runs"])
    for row, run in zip(rows, record["runs"]):
        forget = run["scores"]["sequential"]["forget_regurgitation"]
        assert f"| {forget:.3f} |" in row  # the measured value, not a placeholder


def test_a_profile_measured_alone_keeps_the_others_with_their_own_stamp(tmp_path):
    import end_to_end
    import run_all

    old = {"command": "bench/end_to_end.py", "date": "2026-01-01T00:00:00+00:00",
           "machine": {"cores": 2, "threads": 1, "torch": "x"},
           "profiles": [{"profile": "offline", "total_seconds": 9.0, "all_ok": True,
                         "notebooks": [{"notebook": "01_a", "seconds": 9.0,
                                        "status": "ok"}]}]}
    path = tmp_path / "end_to_end.json"
    path.write_text(json.dumps(old))
    kept = end_to_end.earlier_profiles(path)
    assert kept[0]["profile"] == "offline" and kept[0]["date"] == old["date"]
    new = {**old, "date": "2026-02-02T00:00:00+00:00",
           "profiles": [{"profile": "smoke", "total_seconds": 1.0, "all_ok": True,
                         "notebooks": [], "command": "bench/end_to_end.py --profiles "
                         "smoke", "date": "2026-02-02T00:00:00+00:00",
                         "machine": old["machine"]}] + kept}
    text = run_all.render_end_to_end(new)
    offline = [line for line in text.splitlines() if line.startswith("| offline")]
    assert offline and all("2026-01-01" in line for line in offline)
    assert "2026-02-02" in next(line for line in text.splitlines()
                                if line.startswith("| smoke"))
    assert end_to_end.earlier_profiles(tmp_path / "absent.json") == []


def test_each_notebook_is_compared_with_the_previous_record():
    import end_to_end

    before = {"date": "2026-01-01", "total_seconds": 30.0, "peak_tree_rss_mib": 900.0,
              "notebooks": [{"notebook": "01_a", "seconds": 20.0},
                            {"notebook": "02_b", "seconds": 10.0}]}
    now = {"total_seconds": 15.0, "notebooks": [{"notebook": "01_a", "seconds": 5.0},
                                                {"notebook": "02_b", "seconds": 10.0},
                                                {"notebook": "03_new", "seconds": 0.0}]}
    result = end_to_end.with_ratios(now, before)
    assert [r.get("ratio") for r in result["notebooks"]] == [4.0, 1.0, None]
    assert result["total_ratio"] == 2.0 and result["before"]["total_seconds"] == 30.0
    assert end_to_end.with_ratios({"notebooks": []}, None) == {"notebooks": []}
