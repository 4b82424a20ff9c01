"""Studies end to end on a toy model, a toy benchmark and a micro profile (seconds)."""

import math
from dataclasses import replace

import pytest
from datasets import DatasetDict
from toy import micro_profile, write_toy

from companion import checkpoints, study
from companion.config import CourseError, EvalConfig
from companion.data import load_general
from companion.evaluate import final_score

TASK_TERMS = [f"task/terms/{s}/Task{t}/{k}" for s in ("forget", "retain")
              for t in (1, 2, 3) for k in ("regurgitation", "knowledge")]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A toy benchmark, a toy model folder, a micro profile and a small general set."""
    root = tmp_path_factory.mktemp("study")
    write_toy(root, "toy-model", ending=" by the river.")
    profile = replace(micro_profile(root, 40, 3, steps=4, lr=1e-3, check_every=2,
                                    stop_regurgitation=None),
                      eval=EvalConfig(max_new_tokens=8, batch_size=16))
    general = load_general()
    small = DatasetDict({"corpus": general["corpus"].select(range(4)),
                         "probe": general["probe"].select(range(4)),
                         "heldout": general["heldout"].select(range(4))})
    return root, str(root / "toy-model"), profile, small


@pytest.fixture(scope="module")
def table(toy):
    root, model, profile, small = toy
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(study, "load_general", lambda: small)
        return study.run_study(profile, [model], ["sequential", "gradient_ascent"],
                               [0, 1], out=root / "runs", progress=False)


def test_every_method_lists_its_path_for_every_seed(table):
    assert list(table.columns) == study.COLUMNS
    paths = table.groupby(["seed", "method"], sort=False)["stage"].unique()
    for seed in (0, 1):
        assert list(paths[(seed, "sequential")]) == [
            "baseline", "stabilised", "sequential"]
        assert list(paths[(seed, "gradient_ascent")]) == ["baseline", "gradient_ascent"]
    assert set(table["model"]) == {"toy-model"}


def test_every_official_term_is_kept(table):
    for (seed, method, stage), rows in table.groupby(["seed", "method", "stage"]):
        values = dict(zip(rows["term"], rows["value"]))
        missing = [t for t in study.HEADLINE + TASK_TERMS if t not in values]
        assert not missing, f"{stage} lacks {missing}"
        assert values["task/n_terms"] == 12
        assert values["final_score"] == pytest.approx(final_score(
            values["task_aggregate"], values["mia_score"], values["utility"]))
        assert 0.0 <= values["mia_score"] <= 1.0
        assert "seconds" not in values  # timings are not scores


def test_seeds_live_in_separate_folders_with_the_same_budget(toy, table):
    root, _, profile, _ = toy
    for seed, folder in [(0, root / "runs" / "toy-model"),
                         (1, root / "runs" / "toy-model" / "seed-1")]:
        assert study.run_root(profile, toy[1], seed, root / "runs") == folder
        for stage in ("baseline", "stabilised", "sequential", "gradient_ascent"):
            assert checkpoints.read_settings(folder, stage)["seed"] == seed
    rows = table[table["term"] == "train_steps"].drop_duplicates(["seed", "stage"])
    steps = rows.set_index(["seed", "stage"])["value"]
    assert steps[(0, "sequential")] == steps[(0, "gradient_ascent")] == 4
    assert steps[(0, "baseline")] == profile.finetune.steps
    base = table[(table["term"] == "forget_regurgitation")
                 & (table["stage"] == "baseline")]
    assert base.groupby("seed")["value"].nunique().max() == 1  # one baseline per seed


def test_second_run_reads_the_cache(toy, table, monkeypatch):
    root, model, profile, small = toy
    monkeypatch.setattr(study, "load_general", lambda: small)

    def no_evaluation(*args, **kwargs):
        raise AssertionError("a cached stage was evaluated again")

    monkeypatch.setattr(study, "evaluate_model", no_evaluation)
    again = study.run_study(profile, [model], ["sequential", "gradient_ascent"], [0, 1],
                            out=root / "runs", progress=False)
    assert again.equals(table)


def test_a_cache_older_than_the_evaluation_format_is_redone(toy, table, monkeypatch):
    # an evaluation cached before it gained terms (e.g. the MIA AUC per task) would
    # silently lack them: its key names an older format, so it is not reused
    root, model, profile, small = toy
    run = study.study_run(profile, model, 0, out=root / "runs", progress=False)
    assert study._cached(run, "baseline") is not None
    monkeypatch.setattr(study, "EVALUATION_FORMAT", study.EVALUATION_FORMAT + 1)
    assert study._cached(run, "baseline") is None


def test_summarise_gives_mean_and_std_over_seeds(table):
    summary = study.summarise(table)
    row = summary[(summary["method"] == "sequential")
                  & (summary["stage"] == "sequential")
                  & (summary["term"] == "retain_regurgitation")].iloc[0]
    values = table[(table["stage"] == "sequential")
                   & (table["term"] == "retain_regurgitation")]["value"]
    assert row["n"] == 2
    assert row["mean"] == pytest.approx(values.mean())
    assert row["std"] == pytest.approx(values.std(ddof=1), nan_ok=True)


def test_stage_table_has_one_row_per_stage(table):
    wide = study.stage_table(table, ["forget_regurgitation", "final_score"])
    assert list(wide.index.get_level_values("stage")) == [
        "baseline", "oracle", "stabilised", "sequential", "gradient_ascent"]
    assert list(wide.columns) == ["forget_regurgitation", "final_score"]
    spread = study.stage_table(table, ["final_score"], spread=True)
    assert "±" in spread.iloc[0, 0]
    assert study.score(table, "final_score", "baseline") == pytest.approx(
        table[(table["term"] == "final_score") & (table["stage"] == "baseline")
              & (table["method"] == "sequential")]["value"].mean())


def test_utility_relative_is_against_the_baseline(toy, table, monkeypatch):
    root, model, profile, small = toy
    monkeypatch.setattr(study, "load_general", lambda: small)
    scores = study.evaluate_stage(profile, "sequential", model, out=root / "runs")
    base = study.evaluate_stage(profile, "baseline", model, out=root / "runs")
    expected = scores.utility / base.utility if base.utility else math.nan
    assert scores.utility_relative == pytest.approx(expected, nan_ok=True)
    useful = replace(scores, utility=0.3)
    assert study._with_relative(useful, 0.6).utility_relative == 0.5
    assert math.isnan(study._with_relative(useful, 0.0).utility_relative)
    # the stage's terms as a table, the same numbers as in the study's long table
    assert len(scores.terms) == 12 and scores.n_terms == 12
    rows = table[(table["stage"] == "sequential") & (table["seed"] == 0)
                 & (table["method"] == "sequential")].set_index("term")["value"]
    for row in scores.terms.itertuples():
        assert rows[f"task/terms/{row.split}/{row.task}/{row.kind}"] == row.term
        assert rows[f"task/means/{row.split}/{row.task}/{row.kind}"] == row.mean


def test_requests_are_scored_one_by_one(toy, monkeypatch):
    root, model, profile, small = toy
    monkeypatch.setattr(study, "load_general", lambda: small)
    requests = study.run_requests(profile, model, n_requests=2, out=root / "runs",
                                  progress=False)
    stages = list(dict.fromkeys(requests["stage"]))
    assert stages == ["baseline", "request-1", "request-2"]
    terms = set(requests["term"])
    assert {"request-1/regurgitation", "request-2/knowledge", "retain_regurgitation",
            "utility_relative", "final_score"} <= terms
    folder = root / "runs" / "toy-model"
    assert checkpoints.read_settings(folder, "request-2")["request"] == 2
    figure = study.request_plot(requests, save=root / "requests.png")
    assert (root / "requests.png").stat().st_size > 0 and figure.axes


def test_plots_and_mia_losses(toy, table):
    root, model, profile, _ = toy
    figure = study.seed_plot(table, save=root / "seeds.png")
    assert len(figure.axes) >= 4 and (root / "seeds.png").exists()
    losses = study.read_mia_losses(profile, "sequential", model, out=root / "runs")
    assert len(losses["member"]) == 6 and len(losses["nonmember"]) == 3


def test_intermediate_false_scores_only_the_ends(toy, table, monkeypatch):
    root, model, profile, small = toy
    monkeypatch.setattr(study, "load_general", lambda: small)
    ends = study.run_study(profile, [model], ["sequential"], [0], out=root / "runs",
                           progress=False, intermediate=False)
    assert list(dict.fromkeys(ends["stage"])) == ["oracle", "baseline", "sequential"]
    assert study.method_stages("npo", intermediate=False) == ["baseline", "npo"]


def test_bad_input_is_one_clear_error(toy, table):
    with pytest.raises(CourseError, match="unknown method 'ascend'"):
        study.method_stages("ascend")
    with pytest.raises(CourseError, match="none of"):
        study.stage_table(table, ["no_such_term"])
    with pytest.raises(CourseError, match="evaluate 'npo' first"):
        study.read_mia_losses(toy[2], "npo", toy[1], out=toy[0] / "runs")
