"""Run every benchmark and write bench/RESULTS.md from their JSON files (`make bench`).

    .venv/bin/python bench/run_all.py [--quick] [--skip quality end_to_end]
    .venv/bin/python bench/run_all.py --render-only   # RESULTS.md from the JSONs

Benchmarks: train_speed (companion loop vs Trainer), step_speed (the offline
baseline's step with transformers' gelu_new vs torch's fused tanh GELU),
parallel_speed (two runs side by side vs one on every core), eval_speed (owned by the
evaluation author; batched vs one-at-a-time generation), end_to_end (the course
per notebook and profile), quality (SemEval-2025 public data and bundled data),
tradeoff (every method over a grid of budgets, at matched forgetting).
--quick runs each on tiny settings and writes everything, RESULTS.md included,
to a temporary folder (or --out-dir), never over the recorded results. The text
below the NOTES marker of RESULTS.md is written by hand and kept.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from common import BENCH_DIR, machine_line

BENCHMARKS = ("train_speed", "step_speed", "parallel_speed", "eval_speed", "end_to_end", "quality", "tradeoff")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOTES = "<!-- Hand-written notes below this line are kept by run_all.py. -->"
QUALITY_DATA = ("semeval", "bundled")


# ---------------------------------------------------------------- running


def run_benchmark(name: str, out_dir: Path, quick: bool) -> None:
    """Run one benchmark's main(), writing its JSON into out_dir."""
    flag = ["--quick"] if quick else []
    if name == "train_speed":
        import train_speed
        train_speed.main(flag + ["--out", str(out_dir / "train_speed.json")])
    elif name == "step_speed":
        import step_speed
        step_speed.main(flag + ["--out", str(out_dir / "step_speed.json")])
    elif name == "parallel_speed":
        import parallel_speed
        parallel_speed.main(flag + ["--out", str(out_dir / "parallel_speed.json")])
    elif name == "eval_speed":
        run_eval_speed(out_dir, quick)
    elif name == "end_to_end":
        import end_to_end
        end_to_end.main(flag + ["--out", str(out_dir / "end_to_end.json")])
    elif name == "quality":
        import quality
        for data in QUALITY_DATA[1:] if quick else QUALITY_DATA:  # quick: bundled
            extra = ["--runs", str(out_dir / "quality-runs")] if quick else []
            out = out_dir / f"quality-{data}.json"
            quality.main(flag + extra + ["--data", data, "--out", str(out)])
    elif name == "tradeoff":
        import tradeoff
        for data in QUALITY_DATA[1:] if quick else QUALITY_DATA:  # quick: bundled
            extra = ["--runs", str(out_dir / "tradeoff-runs")] if quick else []
            tradeoff.main(flag + extra + ["--data", data, "--out-dir", str(out_dir)])


def run_eval_speed(out_dir: Path, quick: bool) -> None:
    """bench/eval_speed.py (not ours: it takes sys.argv and writes a fixed OUT)."""
    import eval_speed
    argv, out = sys.argv, eval_speed.OUT
    sys.argv = ["bench/eval_speed.py"] + (["--model", "random", "--items", "4",
                                           "--max-new-tokens", "4", "--repeats", "1"]
                                          if quick else [])
    eval_speed.OUT = out_dir / "eval_speed.json"  # quick never replaces real results
    try:
        eval_speed.main()
    finally:
        sys.argv, eval_speed.OUT = argv, out


# ---------------------------------------------------------------- rendering


def load(out_dir: Path, name: str) -> dict | None:
    """A benchmark's JSON, or None when it has not been run."""
    path = out_dir / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def stamp(record: dict) -> list[str]:
    """The command, machine and date cells of a row."""
    info = record.get("machine") or {"cores": record.get("cores"),
                                     "threads": record.get("threads"),
                                     "torch": record.get("torch")}
    return [f"`{record.get('command', '?')}`", machine_line(info),
            str(record.get("date", "?"))[:16].replace("T", " ")]


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_train_speed(r: dict) -> str:
    """Tokens/s of both loops, the ratio and the MFU."""
    rows = [[x["model"], f"{x['params'] / 1e6:.1f} M",
             f"{x['batch_size']} x {x['seq_len']}",
             f"{x['measured_steps']} ({x['warmup_steps']})",
             f"{x['companion_tokens_per_s']:.0f}", f"{x['trainer_tokens_per_s']:.0f}",
             f"**{x['ratio']:.2f}** ("
             + ", ".join(f"{v:.2f}" for v in x["ratio_per_repeat"]) + ")",
             "met" if x["ratio"] >= 1.0 else "missed",
             f"{x['mfu_6n']:.1%} / {x['mfu_6n_attention']:.1%}", *stamp(r)]
            for x in r["results"]]
    return (table(["model", "params", "batch x tokens", "steps (warm-up)",
                   "companion tokens/s", "Trainer tokens/s",
                   "ratio, median (per repeat)", "target >= 1.0", "MFU 6N / 6N+12LTd",
                   "command", "machine", "date"], rows)
            + f"\n\nfp32 matmul peak measured in the same run: "
              f"{r['matmul_peak_flops'] / 1e9:.1f} GFLOP/s ({r['matmul_size']}^2, best "
              f"of several). Tokens/s are medians over the repeats; the ratio is "
              f"companion/Trainer, median of the per-repeat ratios.")


def render_step_speed(r: dict) -> str:
    """Seconds per step with each GELU kernel, as bench/step_speed.py ran it."""
    rows = [[x["setup"], f"{x['seconds_per_step']:.4f}", *stamp(r)] for x in r["setups"]]
    return (table(["GELU kernel", "seconds per step", "command", "machine", "date"], rows)
            + f"\n\nSpeed-up: **{r['speedup']}x** ({r['model']}, the offline baseline's "
              f"texts, batch {r['batch_size']}, {r['steps']} steps per run, "
              f"{r['threads']} threads, median of {r['repeats']} alternating repeats).")


def render_parallel_speed(r: dict) -> str:
    """Seconds per step and throughput of each setup, as bench/parallel_speed.py ran it."""
    rows = [[x["setup"], ", ".join(map(str, x["threads"])),
             ", ".join(f"{s:.3f}" for s in x["seconds_per_step"]),
             f"**{x['throughput_vs_one_run_every_core']}x**", *stamp(r)]
            for x in r["runs"]]
    return (table(["setup", "torch threads per run", "seconds per step (each run)",
                   "steps/s vs one run on every core", "command", "machine", "date"],
                  rows)
            + f"\n\ntiny-gpt2, batch {r['batch'][0]} x {r['batch'][1]} random tokens, "
              f"{r['steps']} steps per run, median of {r['repeats']} alternating "
              f"repeats, {r['cores']} cores; each run its own process.")


def render_eval_speed(r: dict) -> str:
    """Batched vs one-at-a-time generation, as bench/eval_speed.py measured it."""
    row = [r.get("model"), r.get("items"), r.get("max_new_tokens"), r.get("batch_size"),
           r.get("batched_items_per_s"), r.get("single_items_per_s"),
           f"**{r.get('speedup')}x**",
           "met" if (r.get("speedup") or 0) >= 4 else "missed",
           r.get("identical_outputs"), *stamp(r)]
    return table(["model", "items", "max new tokens", "batch", "batched items/s",
                  "one-at-a-time items/s", "speed-up", "target >= 4x",
                  "identical outputs", "command", "machine", "date"], [row])


def render_end_to_end(r: dict) -> str:
    """Per-notebook seconds (and before / now against the previous record), the course
    total and peak memory (the process tree summed, and the largest process)."""
    rows = []
    for p in r["profiles"]:
        stamped = stamp(p if "command" in p else r)  # a profile may be re-measured alone
        for nb in p.get("notebooks", []):
            status = ANSI.sub("", nb["status"])  # the runner keeps traceback colours
            rows.append([p["profile"], nb["notebook"], f"{nb['seconds']:.1f}",
                         _was(nb.get("before_seconds"), nb.get("ratio")), status, "",
                         *stamped])
        before = p.get("before", {})
        tree = p.get("peak_tree_rss_mib")
        memory = (f"{tree} MiB tree / " if tree else "") + f"{p.get('peak_rss_mib')} MiB"
        rows.append([p["profile"], "**whole course**", f"**{p.get('total_seconds')}**",
                     _was(before.get("total_seconds"), p.get("total_ratio")),
                     "ok" if p.get("all_ok")
                     else f"failed (exit {p.get('returncode')})", memory, *stamped])
    return (table(["profile", "notebook", "seconds", "before: s (before / now)",
                   "status", "peak memory", "command", "machine", "date"], rows)
            + "\n\nPeak memory: the whole process tree (course runner and kernels, "
              "summed, sampled every 0.2 s with psutil) / the largest single process "
              "(getrusage(RUSAGE_CHILDREN).ru_maxrss); older rows have only the second. "
              "Before: the previously recorded run of that profile.")


def _was(seconds, ratio) -> str:
    return f"{seconds} ({ratio:.2f}x)" if seconds is not None and ratio else ""


SHORT = {"final_score": "final", "task_aggregate": "task agg.", "mia_score": "MIA",
         "utility": "utility", "forget_regurgitation": "forget reg.",
         "retain_regurgitation": "retain reg.", "forget_knowledge": "forget know.",
         "retain_knowledge": "retain know.", "perplexity": "ppl",
         "train_steps": "steps", "mia_auc": "MIA AUC",
         "forget_quality": "forget quality", "ks_statistic": "KS D",
         "mia_auc_gap": "AUC gap", "privleak": "PrivLeak"}


DIGITS = {"perplexity": 1, "train_steps": 0}
OFFICIAL = "task/terms/"  # companion.study's names of the twelve official terms


def cell(stats: dict | None, digits: int = 3) -> str:
    """'mean ± std' of a summary entry."""
    if not stats:
        return "-"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def quality_header(r: dict) -> str:
    """One paragraph: data, slice, units done and every budget."""
    f, st, u = (r["profile"][k] for k in ("finetune", "stabilise", "unlearn"))
    how = ("summarised from saved rows" if r.get("report_only")
           else f"wall {r['wall_seconds'] / 60:.0f} min")
    units = r.get("units_done") or [
        f"{m} x {max(t['final_score']['n'] for t in st.values())} seeds"
        for m, st in r["summary"].items()]
    return (f"Data: `{r['data']}` ({r['source']}); max_docs_per_task = "
            f"{r['max_docs_per_task']} (None = all documents). Units (model x seed) "
            f"done: {', '.join(units)}; {how}; {r['threads']} "
            f"thread. Baseline trained per seed. Budgets: baseline {f['steps']} steps x "
            f"{f['batch_size']} (lr {f['lr']}, {f.get('schedule', 'constant')}); "
            f"stabilise {st['steps']} x {st['batch_size']}; unlearning at most {u['steps']} x {u['batch_size']} "
            f"(lr {u['lr']}), stopped by the rule `{u.get('stop_rule', 'regurgitation')}`"
            f" (regurgitation target {u['stop_regurgitation']}; checked every "
            f"{u['check_every']}); "
            f"max_length {f['max_length']}; max_new_tokens "
            f"{r['profile']['eval']['max_new_tokens']}. Mean ± std over seeds.")


def render_quality(r: dict) -> str:
    """Headline terms, every official term, and the targets, per model."""
    parts, stamped = [quality_header(r)], ["command", "machine", "date"]
    for model, stages in r["summary"].items():
        rows = [[stage, *[cell(s.get(t), DIGITS.get(t, 3)) for t in SHORT], *stamp(r)]
                for stage, s in stages.items()]
        parts.append(f"**{model}**\n\n"
                     + table(["stage", *SHORT.values(), *stamped], rows))
        official = [t for t in dict.fromkeys(t for s in stages.values() for t in s)
                    if t.startswith(OFFICIAL)]
        rows = [[stage, *[cell(s.get(t)) for t in official], *stamp(r)]
                for stage, s in stages.items()]
        names = [t[len(OFFICIAL):].replace("regurgitation", "reg").replace(
                 "knowledge", "know") for t in official]
        parts.append(f"Official terms of {model} (forget terms already inverted, "
                     "1 - mean; the task aggregate is their harmonic mean)\n\n"
                     + table(["stage", *names, *stamped], rows))
    verdicts = {True: "met", False: "**missed**", None: "n/a"}
    rows = [[t["model"], t["target"], number(t["value"]), number(t["threshold"]),
             verdicts[t["met"]], *stamp(r)] for t in r["targets"]]
    parts.append("Targets (measured on the means, not asserted)\n\n" + table(
        ["model", "target", "measured", "threshold", "verdict", *stamped], rows))
    return "\n\n".join(parts)


def render_sweep(r: dict) -> str:
    """One row per budget tried for the sequential method alone (bench/sweep-*.json)."""
    terms = ("forget_regurgitation", "retain_regurgitation", "utility", "mia_score",
             "task_aggregate", "final_score")
    rows = [[run["stabilise_steps"], run["unlearn"]["steps"], run["unlearn"]["lr"],
             run["unlearn"]["trainable"], run["unlearn"]["stop_regurgitation"],
             int(run["scores"]["sequential"]["train_steps"]),
             *[number(run["scores"]["sequential"][t]) for t in terms], *stamp(run)]
            for run in r["runs"]]
    return f"{r['what']}.\n\n" + table(
        ["stabilise steps", "unlearn steps (max)", "lr", "blocks", "stop at",
         "steps taken", "forget reg.", "retain reg.", "utility", "MIA", "task agg.",
         "final", "command", "machine", "date"], rows)


def render_tradeoff(r: dict) -> str:
    """Retain regurgitation at matched forgetting, per method and learning rate."""
    level = r["oracle"]["forget_regurgitation"]
    def kept(value) -> str:  # NaN (null in newer JSON): never forgot that much
        return "not reached" if value is None or value != value else number(value)

    rows = [[f"`{m['method']}`", m["lr"], kept(m["retain_regurgitation"]),
             "-" if m["step"] is None or m["step"] != m["step"] else int(m["step"]),
             *stamp(r)] for m in r["matched"]]
    return (f"Model {r['model']}, seed {r['seed']}; budget {r['steps']} steps, checked "
            f"every {r['every']}; no stop rule. Matched forgetting: the oracle's own "
            f"forget regurgitation, {level:.3f} (its retain regurgitation "
            f"{r['oracle']['retain_regurgitation']:.3f}). A method that never forgot "
            f"that much within the budget shows \"not reached\". Figures: "
            + ", ".join(f"`{f}`" for f in r.get("figures", [r.get("figure")])) + "."
            "\n\n" + table(["method", "lr", "retain reg. at matched forgetting",
                             "step", "command", "machine", "date"], rows))


def render_stop_rules(r: dict) -> str:
    """One row per stop rule, and the baseline and oracle as references."""
    terms = ("forget_regurgitation", "retain_regurgitation", "utility", "mia_auc",
             "mia_auc_gap", "forget_quality", "forget_loss_gap", "final_score")
    rows = [[name, "-", "-", *[number(v.get(t)) for t in terms], *stamp(r)]
            for name, v in r["references"].items()]
    rows += [[x["rule"], x["steps"], x["stopped"], *[number(x.get(t)) for t in terms],
              *stamp(r)] for x in r["rules"]]
    u = r["unlearn"]
    return (f"Model {r['model']}, seed {r['seed']}: sequential unlearning (lr {u['lr']}, "
            f"blocks {u['trainable']}, checks every {u['check_every']}, at most "
            f"{r['steps']} steps) from the same stabilised model under each rule.\n\n"
            + table(["stage / rule", "steps", "stopped", "forget reg.", "retain reg.",
                     "utility", "MIA AUC", "AUC gap", "forget quality",
                     "forget-loss gap", "final", "command", "machine", "date"], rows))


def number(value) -> str:
    """A float to 3 decimals; anything else as it is."""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def render(out_dir: Path) -> str:
    """The generated part of RESULTS.md: one section per benchmark found in out_dir."""
    sections = ["# Benchmark results\n\nWritten by `bench/run_all.py` from the JSON "
                "files beside this one (`make bench`; `--render-only` re-renders). "
                "Every row names its command, machine and date."]
    found = [("Training throughput (bench/train_speed.py)", "train_speed",
              render_train_speed),
             ("A training step with two GELU kernels (bench/step_speed.py)", "step_speed",
              render_step_speed),
             ("Two runs side by side (bench/parallel_speed.py)", "parallel_speed",
              render_parallel_speed),
             ("Evaluation throughput (bench/eval_speed.py)", "eval_speed",
              render_eval_speed),
             ("End to end: the course per notebook (bench/end_to_end.py)", "end_to_end",
              render_end_to_end)]
    names = {"semeval": "SemEval-2025 public data", "bundled": "bundled data"}
    found += [(f"Quality on {names[d]} (bench/quality.py --data {d})", f"quality-{d}",
               render_quality) for d in QUALITY_DATA]
    main = {f"quality-{d}.json" for d in QUALITY_DATA}
    found += [(f"Quality follow-up: {p.stem} (bench/quality.py, other settings)",
               p.stem, render_quality) for p in sorted(out_dir.glob("quality-*.json"))
              if p.name not in main]
    found += [(f"Quality follow-up: {p.stem} (bench/quality.py, sequential only)",
               p.stem, render_sweep) for p in sorted(out_dir.glob("sweep-*.json"))]
    found += [(f"Trade-off at matched forgetting on {names[d]} (bench/tradeoff.py "
               f"--data {d})", f"tradeoff-{d}", render_tradeoff) for d in QUALITY_DATA]
    found += [("Stop rules against the oracle (bench/stop_rules.py)",
               "stop-rules-bundled", render_stop_rules)]
    for title, name, fn in found:
        record = load(out_dir, name)
        body = fn(record) if record else "Not run yet."
        if record and record.get("quick"):
            body = "*Quick run (tiny settings): not a measurement.*\n\n" + body
        sections.append(f"## {title}\n\n{body}")
    return "\n\n".join(sections) + "\n"


def write_results(out_dir: Path) -> Path:
    """RESULTS.md in out_dir: the generated part, then the kept hand-written notes."""
    path = out_dir / "RESULTS.md"
    notes = f"{NOTES}\n\n## Notes\n"
    if path.exists() and NOTES in (text := path.read_text(encoding="utf-8")):
        notes = NOTES + text.split(NOTES, 1)[1]
    path.write_text(render(out_dir) + "\n" + notes, encoding="utf-8")
    print(f"wrote {path}")
    return path


def main(argv: list[str] | None = None) -> Path:
    """Run the benchmarks (all, or all but --skip) and write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, seconds")
    parser.add_argument("--skip", nargs="*", default=[], choices=BENCHMARKS)
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="default: bench/ (a temporary folder with --quick)")
    args = parser.parse_args(argv)
    out_dir = args.out_dir or (Path(tempfile.mkdtemp(prefix="bench-quick-"))
                               if args.quick else BENCH_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not args.render_only:
        for name in BENCHMARKS:
            if name not in args.skip:
                print(f"== {name}", flush=True)
                run_benchmark(name, out_dir, args.quick)
    return write_results(out_dir)


if __name__ == "__main__":
    main()
