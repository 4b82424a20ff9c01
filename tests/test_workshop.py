"""The `workshop` profile: `full` cut so that every notebook fits a 20-minute slot
on a Colab T4, by the timing model of bench/full_timing.py (an estimate)."""

import json
import sys
from pathlib import Path

import pytest

from companion.config import PROFILES, load_profile

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import full_rehearsal  # noqa: E402
import full_timing  # noqa: E402


def test_the_workshop_profile_is_chosen_by_name_and_leaves_full_as_it_is(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "workshop")
    workshop, full = load_profile(verbose=False), load_profile("full", verbose=False)
    assert "workshop" in PROFILES and workshop.name == "workshop"
    assert (workshop.model, workshop.data) == (full.model, full.data)
    assert workshop.seeds == (0,) and workshop.max_docs_per_task == 12
    assert workshop.eval == full.eval  # the official 256 new tokens, every item
    assert full.seeds == (0, 1, 2) and full.max_docs_per_task is None
    assert full.finetune.steps == 1000


T4 = full_timing.GPUS[0]


@pytest.mark.parametrize("data", full_rehearsal.sources())
def test_every_workshop_notebook_fits_the_slot_on_a_t4_by_the_timing_model(data):
    folder = data if data == "bundled" else str(full_timing.PROJECT_ROOT / data)
    workshop = full_timing.estimate("workshop", folder)["minutes"][T4.name]
    for column in ("with saved stages", "fresh runtime"):
        late = {nb: m for nb, m in workshop[column].items() if m > full_timing.LIMIT}
        assert not late, f"{column}: over {full_timing.LIMIT} min on a T4: {late}"


def test_the_full_profile_does_not_fit_so_the_bound_is_a_real_check():
    folder = str(full_timing.PROJECT_ROOT / full_rehearsal.SEMEVAL)
    if not Path(folder).is_dir():
        pytest.skip("the SemEval-2025 parquet files are not beside the project")
    minutes = full_timing.estimate("full", folder)["minutes"][T4.name]["with saved stages"]
    assert minutes["04"] > full_timing.LIMIT and minutes["05"] > full_timing.LIMIT


@pytest.mark.slow
def test_the_workshop_profile_runs_end_to_end_on_a_local_gpt2_folder(tmp_path):
    from companion.models import save_random_model

    folder = save_random_model(tmp_path / "gpt2", "gpt2")
    record = full_rehearsal.rehearse(str(folder), "bundled", tmp_path / "run",
                                     "workshop")
    assert record["report"] and set(record["stages"]) == {
        "oracle", "baseline", "stabilised", "sequential"}
    saved = json.loads((tmp_path / "run" / "baseline" / "settings.json").read_text())
    assert saved["profile"] == "workshop" and saved["max_docs_per_task"] == 1
