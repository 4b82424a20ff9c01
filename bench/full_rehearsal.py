"""The `full` profile's code path, end to end, on a CPU: a rehearsal for Colab.

    .venv/bin/python bench/full_rehearsal.py [--architecture gpt2|olmo|olmo2]
                                             [--profile full|workshop]

Pretrained GPT-2 and a GPU are not needed to find out whether the `full` profile's
code runs: a tiny randomly initialised model of the same family (GPT-2's config
class and tokenizer API, no pad token, 1024-token context), saved with
`save_pretrained` in a temporary folder, goes through oracle, baseline ->
stabilise -> unlearn (sequential) -> evaluation with the full profile's shapes
(sequences of 512 tokens, batch 8 x 2 accumulated, 256 generated tokens, the
general-knowledge utility set) and its data rules, on the bundled data and on the
real SemEval-2025 parquet files where `../shared/semeval25` holds them. Only the step counts and the
number of documents and evaluated items are cut, so it takes seconds, not hours.
What it shows: the path runs and writes report.json; not the full profile's scores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import BENCH_DIR, PROJECT_ROOT, write_result

from companion.config import Profile, load_profile  # noqa: E402
from companion.models import save_random_model  # noqa: E402
from companion.pipeline import run_pipeline  # noqa: E402

OUT = BENCH_DIR / "full_rehearsal.json"
SEMEVAL = "../shared/semeval25"  # the four official parquet files, beside the project


def rehearsal_profile(model: str, data: str, name: str = "full") -> Profile:
    """The `name` profile (full or workshop) on `model` and `data`, with a few steps
    and items per stage."""
    full = load_profile(name, model=model, data=data)
    return replace(
        full, max_docs_per_task=1,
        finetune=replace(full.finetune, steps=3, warmup_steps=1),
        stabilise=replace(full.stabilise, steps=2),
        # a target no model reaches: every step, check and monitor generation runs
        unlearn=replace(full.unlearn, steps=2, check_every=1, stop_regurgitation=-1.0),
        eval=replace(full.eval, max_items=3))


def rehearse(model: str, data: str, out: Path, name: str = "full") -> dict:
    """Run the pipeline under the rehearsal of profile `name`; seconds and scores."""
    start = time.perf_counter()
    folder = data if data == "bundled" else str(PROJECT_ROOT / data)
    scores = run_pipeline(rehearsal_profile(model, folder, name), out=out)
    stages = {}
    for stage, evaluation in scores.items():
        result = json.loads((out / stage / "settings.json").read_text())["result"]
        stages[stage] = {"steps": result["steps"], "seconds": result["seconds"],
                         "final_score": evaluation.final_score}
    return {"profile": name, "data": data, "stages": stages, "report": (out / "report.json").exists(),
            "seconds": round(time.perf_counter() - start, 1)}


def sources() -> list[str]:
    """The bundled data, and the SemEval-2025 parquet folder where it is present."""
    return ["bundled"] + ([SEMEVAL] if (PROJECT_ROOT / SEMEVAL).is_dir() else [])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default="gpt2",
                        choices=("gpt2", "olmo", "olmo2"))
    parser.add_argument("--profile", default="full", choices=("full", "workshop"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        model = str(save_random_model(Path(tmp) / f"random-{args.architecture}",
                                      args.architecture))
        for k, data in enumerate(sources()):
            runs.append(rehearse(model, data, Path(tmp) / f"run-{k}", args.profile))
            print(json.dumps(runs[-1]))
    record = {"architecture": args.architecture, "runs": runs,
              "all_ok": all(r["report"] for r in runs)}
    write_result(args.out, "full_rehearsal.py", argv, record)
    return record


if __name__ == "__main__":
    main()
