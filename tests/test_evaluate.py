"""Official scores against hand-computed cases, generation, MIA, reports and tables."""

import json
import math
import statistics

import pytest
import torch
from datasets import Dataset, DatasetDict

from companion import evaluate as ev
from companion import generation, membership, results, textloss
from companion.config import CourseError, EvalConfig, load_profile, with_overrides
from companion.models import (EOS, load_model, save_model, save_random_model,
                              train_tokenizer)
from toy import tiny_gpt2

TEXTS = [f"The {w} of Amberton sings {n} songs at dawn." for w in
         ("baker", "smith", "weaver", "miller", "potter") for n in range(8)]
CONFIG = EvalConfig(max_new_tokens=6, batch_size=4)


@pytest.fixture(scope="module")
def tokenizer():
    tok = train_tokenizer(TEXTS, vocab_size=300)
    tok.padding_side = "right"  # as companion.models.load_model leaves it
    return tok


@pytest.fixture(scope="module")
def model(tokenizer):
    assert tokenizer.convert_tokens_to_ids(EOS) == 0  # tiny_gpt2's EOS and padding
    return tiny_gpt2(tokenizer).eval()


def _items(split, tasks=("Task1", "Task2", "Task3"), docs=2, part="t") -> list[dict]:
    rows = []
    for task in tasks:
        for d in range(docs):
            doc = f"{split[:1]}{part}{task[-1]}{d}-"
            rows.append({"id": doc + "sc1", "input": f"The baker of Amberton sings {d}",
                         "output": "songs at dawn.", "task": task, "split": split})
            rows.append({"id": doc + "qa0", "input": f"Who sings {d} songs?",
                         "output": "The baker", "task": task, "split": split})
    return rows


def _benchmark(tasks=("Task1", "Task2", "Task3")) -> DatasetDict:
    parts = {"forget_train": _items("forget", tasks),
             "retain_train": _items("retain", tasks),
             "forget_validation": _items("forget", tasks, 1, "v"),
             "retain_validation": _items("retain", tasks, 1, "v")}
    return DatasetDict({k: Dataset.from_list(v) for k, v in parts.items()})


def _general() -> DatasetDict:
    probe = [{"id": "p0", "input": "The smith of", "output": "Amberton"},
             {"id": "p1", "input": "The weaver sings", "output": "3 songs"}]
    return DatasetDict({"probe": Dataset.from_list(probe),
                        "heldout": Dataset.from_list([{"text": t} for t in TEXTS[:3]])})


# ---------------------------------------------------------------- item scores
def test_rouge_l_recall_matches_a_hand_count():
    # stemmed reference: the cat were run home (5); generation: a cat run home quickli
    # LCS = cat run home = 3 tokens -> recall 3/5
    assert ev.regurgitation_score("The cats were running home",
                                  "a cat runs home quickly") == pytest.approx(0.6)
    assert ev.regurgitation_score("songs at dawn", "Songs at dawn, again") == 1.0
    assert ev.regurgitation_score("songs at dawn", "nothing alike") == 0.0


def test_exact_match_normalises_case_and_outer_space_only():
    assert ev.knowledge_score("The Baker", "  the baker\n") == 1.0
    assert ev.knowledge_score("The Baker", "The Baker.") == 0.0
    assert ev.knowledge_score("The Baker", "The Baker of Amberton") == 0.0


def test_first_words_match_ignores_case_and_punctuation():
    assert ev.first_words_match("New York", " new York City, the") == 1.0
    assert ev.first_words_match("France", "France, and the") == 1.0
    assert ev.first_words_match("France", "the capital") == 0.0


def test_item_kind_reads_the_suffix_and_rejects_others():
    assert ev.item_kind('"abc"sc1') == "sc" and ev.item_kind("abcqa3") == "qa"
    with pytest.raises(CourseError, match="neither"):
        ev.item_kind("abc-x1")


# ---------------------------------------------------------------- aggregate
def _record(split, task, kind, score):
    return {"split": split, "task": task, "kind": kind, "score": score}


def _cell(scores, name: str, column: str = "term"):
    """One value of a TaskScores' terms table, by "split/task/kind"."""
    return scores.terms.set_index(["split", "task", "kind"]).loc[
        tuple(name.split("/")), column]


def test_task_scores_invert_forget_and_take_the_harmonic_mean():
    records = [_record("forget", "Task1", "sc", 0.2),
               _record("forget", "Task1", "sc", 0.4),
               _record("retain", "Task1", "sc", 0.5),
               _record("retain", "Task1", "qa", 1.0)]
    result = ev.task_scores(records)
    assert list(result.terms.columns) == ["split", "task", "kind", "mean", "term",
                                          "count"]
    assert _cell(result, "forget/Task1/regurgitation", "mean") == pytest.approx(0.3)
    assert _cell(result, "forget/Task1/regurgitation") == pytest.approx(0.7)
    # harmonic mean of 0.7, 0.5, 1.0 = 3 / (1/0.7 + 2 + 1)
    assert result.task_aggregate == pytest.approx(3 / (1 / 0.7 + 2 + 1))
    # absent terms are left out, and listed
    assert result.n_terms == 3 and len(result.missing) == 9
    assert "forget/Task1/knowledge" in result.missing
    assert _cell(result, "forget/Task1/regurgitation", "count") == 2


def test_one_zero_term_makes_the_aggregate_zero_and_is_named():
    records = [_record(s, t, k, 0.5) for s in ev.SPLITS for t in ev.TASKS
               for k in ("sc", "qa")]
    records[3]["score"] = 0.75  # forget/Task2/knowledge: term 1 - 0.75
    records[-1]["score"] = 0.0  # retain/Task3/knowledge: one zero term
    result = ev.task_scores(records)
    assert result.task_aggregate == 0.0
    assert result.zero_terms == ("retain/Task3/knowledge",)
    assert result.n_terms == 12 and result.missing == ()
    assert _cell(result, "forget/Task2/knowledge") == pytest.approx(0.25)
    assert _cell(result, "retain/Task3/knowledge") == 0.0  # every term kept


def test_task_scores_of_nothing_is_an_error():
    with pytest.raises(CourseError):
        ev.task_scores([])


# ---------------------------------------------------------------- MIA and final
def test_mia_of_separated_and_identical_losses():
    apart = membership.mia_score([0.1, 0.2, 0.3], [1.0, 2.0, 3.0])  # members much lower loss
    assert apart["auc"] == 1.0 and apart["score"] == 0.0
    reverse = membership.mia_score([1.0, 2.0, 3.0], [0.1, 0.2, 0.3])  # over-unlearnt
    assert reverse["auc"] == 0.0 and reverse["score"] == 0.0
    same = membership.mia_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["auc"] == pytest.approx(0.5) and same["score"] == pytest.approx(1.0)
    with pytest.raises(CourseError):
        membership.mia_score([], [1.0])


def test_within_task_auc_sees_memorisation_that_pooling_hides():
    # task B is easy (low loss for all), task A hard; each task's members sit below
    # its own non-members, but B's non-members sit below A's members
    member = [3.0, 3.1, 3.2, 0.5, 0.6, 0.7]
    nonmember = [4.0, 4.1, 1.0, 1.1]
    tasks_m, tasks_n = ["A"] * 3 + ["B"] * 3, ["A", "A", "B", "B"]
    assert membership.mia_score(member, nonmember)["auc"] < 0.8  # pooled
    by_task = membership.auc_by_task(member, nonmember, tasks_m, tasks_n)
    assert by_task == {"A": 1.0, "B": 1.0}
    same = membership.auc_by_task(nonmember, nonmember, tasks_n, tasks_n)  # nothing learnt
    assert same == {"A": pytest.approx(0.5), "B": pytest.approx(0.5)}
    # a task without non-members has no AUC of its own
    assert membership.auc_by_task(member, nonmember[:2], tasks_m, ["A"] * 2) == {"A": 1.0}
    with pytest.raises(CourseError, match="one task label"):
        membership.auc_by_task(member, nonmember, tasks_m[:2], tasks_n)
    with pytest.raises(CourseError, match="one task label"):
        membership.auc_by_task(member, nonmember, "AAABBB", tasks_n)


def test_final_score_is_the_mean_of_three():
    assert ev.final_score(0.9, 0.6, 0.3) == pytest.approx(0.6)
    assert ev.final_score(0.0, 1.0, 0.5) == pytest.approx(0.5)


# ---------------------------------------------------------------- generation
PROMPTS = ["The", "The potter of Amberton sings 7 songs", "The smith", "The miller of"]


def _greedy_by_hand(model, tokenizer, prompt, n):
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        for _ in range(n):
            ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
    new = ids[0, len(tokenizer(prompt)["input_ids"]):]
    return tokenizer.decode(new, skip_special_tokens=True)


def test_batched_generation_equals_one_at_a_time(model, tokenizer):
    batched = generation.generate(model, tokenizer, PROMPTS, 8, batch_size=4, progress=False)
    single = generation.generate(model, tokenizer, PROMPTS, 8, batch_size=1, progress=False)
    assert batched == single
    assert tokenizer.padding_side == "right"  # restored
    # the continuation only, in input order, as a cache-free greedy loop makes it
    assert batched[1] == _greedy_by_hand(model, tokenizer, PROMPTS[1], 8)
    assert batched[0] == _greedy_by_hand(model, tokenizer, PROMPTS[0], 8)


def test_generation_restores_training_mode_and_rejects_bad_input(model, tokenizer):
    model.train()
    generation.generate(model, tokenizer, PROMPTS[:1], 2, progress=False)
    assert model.training
    model.eval()
    assert generation.generate(model, tokenizer, [], 4) == []
    with pytest.raises(CourseError, match="too short"):
        generation.generate(model, tokenizer, ["The", ""], 2, progress=False)
    with pytest.raises(CourseError, match="max_new_tokens"):
        generation.generate(model, tokenizer, ["The"], 64, progress=False)


@pytest.mark.parametrize("architecture", ["gpt2", "olmo"])
def test_scoring_is_inference_only_and_training_goes_on_after(architecture, tmp_path):
    net, tokenizer = load_model(save_random_model(tmp_path / "m", architecture),
                                device="cpu")
    net.train()
    with pytest.raises(RuntimeError, match="boom"):
        with textloss.scoring(net):
            assert torch.is_inference_mode_enabled() and not net.training
            raise RuntimeError("boom")
    assert net.training and not torch.is_inference_mode_enabled()  # restored on error
    before = textloss.mean_loss(net, tokenizer, TEXTS[:2])
    generation.generate(net, tokenizer, PROMPTS[:2], 3, progress=False)
    # scoring left nothing behind that a backward pass would refuse
    batch = textloss.collate(textloss.encode(tokenizer, TEXTS[:2], 32),
                             textloss.padding_id(tokenizer))
    textloss.token_nll(net, batch).backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    assert textloss.mean_loss(net, tokenizer, TEXTS[:2]) == before


def test_document_losses_are_mean_token_nll_and_batch_free(model, tokenizer):
    texts = TEXTS[:2] + ["The baker sings"]
    batched = textloss.document_losses(model, tokenizer, texts, batch_size=3)
    single = textloss.document_losses(model, tokenizer, texts, batch_size=1)
    assert batched == pytest.approx(single, abs=1e-5)
    # the one text-loss rule: the text's tokens, then EOS, all but the first scored
    ids = torch.tensor([tokenizer(texts[2])["input_ids"] + [tokenizer.eos_token_id]])
    with torch.no_grad():
        expected = model(ids, labels=ids).loss.item()
    assert batched[2] == pytest.approx(expected, abs=1e-5)
    # perplexity weighs every token once: exp(sum of per-text NLL / tokens)
    counts = [len(tokenizer(t)["input_ids"]) for t in texts]  # + EOS - the first
    total = sum(loss * n for loss, n in zip(single, counts)) / sum(counts)
    assert membership.perplexity(model, tokenizer, texts) == pytest.approx(math.exp(total),
                                                                   rel=1e-5)


def test_limit_items_keeps_every_task():
    rows = ev.limit_items(Dataset.from_list(_items("forget")), 3)
    assert sorted(r["task"] for r in rows) == ["Task1", "Task2", "Task3"]


def test_score_items_records(model, tokenizer):
    forget = Dataset.from_list(_items("forget"))
    records = ev.score_items(model, tokenizer, forget, CONFIG, progress=False)
    assert len(records) == 12
    assert set(records[0]) == {"id", "task", "split", "kind", "input", "reference",
                               "generation", "score"}
    assert {r["kind"] for r in records} == {"sc", "qa"}
    assert all(0.0 <= r["score"] <= 1.0 for r in records)
    sc = [r for r in records if r["kind"] == "sc"]
    monitor = ev.forget_regurgitation(model, tokenizer, _items("forget"), CONFIG)
    assert monitor == pytest.approx(statistics.mean(r["score"] for r in sc))


# ---------------------------------------------------------------- whole stages
def test_evaluate_model_writes_generations_and_merges_the_report(model, tokenizer,
                                                                 tmp_path):
    bench, general = _benchmark(), _general()
    first = ev.evaluate_model(model, tokenizer, bench, CONFIG, stage="baseline",
                              general=general, out=tmp_path, progress=False)
    second = ev.evaluate_model(model, tokenizer, bench, CONFIG, stage="after",
                               general=general, out=tmp_path, baseline=0.5,
                               progress=False)
    report = json.loads((tmp_path / "report.json").read_text())
    assert list(report["stages"]) == ["baseline", "after"]
    assert report["settings"]["eval"]["max_new_tokens"] == 6
    terms = report["stages"]["after"]
    assert terms["final_score"] == pytest.approx(
        (terms["task_aggregate"] + terms["mia_score"] + terms["utility"]) / 3)
    assert len(terms["task"]["terms"]) == 12 and terms["mia"]["n_member"] == 6
    assert second.final_score == terms["final_score"] and second.n_terms == 12
    assert second.utility_relative == pytest.approx(second.utility / 0.5)
    assert first.utility_relative is None and terms["utility_relative"] is not None
    assert first.oracle_missing and "no oracle" in first.oracle_missing
    lines = (tmp_path / "generations-after.jsonl").read_text().splitlines()
    assert len(lines) == 24 and json.loads(lines[0])["subset"] == "forget_train"
    assert len(second.mia_losses["member"]) == 6
    # the report reads back as the same evaluation
    saved = results.read_evaluations(tmp_path)["after"]
    assert saved.flat() == pytest.approx(second.flat())
    assert saved.terms.equals(second.terms)
    assert list(tmp_path.glob(".*tmp*")) == []  # atomic writes left nothing behind


def test_absent_task_is_left_out_and_reported(model, tokenizer):
    result = ev.evaluate_model(model, tokenizer, _benchmark(("Task1", "Task2")), CONFIG,
                               stage="s", general=_general(), progress=False)
    assert result.n_terms == 8 and set(result.terms["task"]) == {"Task1", "Task2"}
    assert sorted(result.task.missing) == sorted(
        f"{s}/Task3/{k}" for s in ev.SPLITS for k in ("regurgitation", "knowledge"))


# a stage of report.json as the course wrote it before results were typed
OLD_STAGE = {
    "stage": "baseline", "final_score": 0.5, "task_aggregate": 0.6, "mia_score": 0.3,
    "mia_auc": 0.85, "utility": 0.6, "utility_exact": 0.1, "utility_first_words": 0.6,
    "utility_match": "first_words", "n_utility": 4, "perplexity": 12.0,
    "forget_regurgitation": 0.4, "forget_knowledge": None,
    "retain_regurgitation": 0.9, "retain_knowledge": 1.0,
    "forget_quality": None, "ks_statistic": None, "mia_auc_gap": None,
    "privleak": None, "forget_loss_gap": None, "oracle_missing": "no oracle",
    "task": {"task_aggregate": 0.6, "n_terms": 2, "missing": ["x"], "zero_terms": [],
             "terms": {"forget/Task1/regurgitation": 0.6,
                       "retain/Task1/regurgitation": 0.9},
             "means": {"forget/Task1/regurgitation": 0.4,
                       "retain/Task1/regurgitation": 0.9},
             "counts": {"forget/Task1/regurgitation": 2,
                        "retain/Task1/regurgitation": 3}},
    "mia": {"auc": 0.85, "score": 0.3, "n_member": 6}, "seconds": 1.5}


def test_results_table_is_tidy_and_reads_reports_written_before_typed_results(
        tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(
        {"settings": {}, "stages": {"baseline": OLD_STAGE}}))
    table = results.results_table({"ga": tmp_path})
    assert list(table.columns) == ["method", "stage", "term", "value"]
    values = table.set_index("term")["value"]
    assert values["task/terms/forget/Task1/regurgitation"] == 0.6
    assert values["task/means/retain/Task1/regurgitation"] == 0.9
    assert values["task/n_terms"] == 2 and values["mia/n_member"] == 6
    assert values["final_score"] == 0.5 and values["seconds"] == 1.5
    assert "forget_knowledge" not in values and "utility_match" not in values
    old = results.read_evaluations(tmp_path)["baseline"]
    assert old.terms.to_dict("records")[0] == {
        "split": "forget", "task": "Task1", "kind": "regurgitation", "mean": 0.4,
        "term": 0.6, "count": 2}
    assert old.oracle_missing == "no oracle" and old.oracle["forget_quality"] is None
    assert results.Evaluation.from_dict(old.to_dict()).flat() == old.flat()
    (tmp_path / "report.json").write_text(json.dumps(
        {"settings": {}, "stages": {"x": {"stage": "x", "perplexity": 3.0}}}))
    with pytest.raises(CourseError, match="stage 'x' of the report has no evaluation"):
        results.results_table(tmp_path)


def test_evaluate_checkpoint_from_a_saved_folder(model, tokenizer, tmp_path, monkeypatch):
    from companion import data

    folder = save_model(model, tokenizer, tmp_path / "ckpt" / "baseline")
    data.write_jsonl_layout(_benchmark(), tmp_path / "bench")
    monkeypatch.setattr(data, "load_general", _general)
    profile = load_profile("smoke", verbose=False)
    profile = with_overrides(profile, eval=CONFIG, max_docs_per_task=None)
    result = ev.evaluate_checkpoint(folder, data=str(tmp_path / "bench"),
                                    out=tmp_path / "out", profile=profile)
    assert result.details["n_utility"] == 2  # a small vocabulary: the patched probe
    assert "baseline" in ev.read_report(tmp_path / "out")["stages"]


def test_general_knowledge_file_is_well_formed():
    rows = ev.load_general_knowledge()
    assert 50 <= len(rows) <= 80
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["input"] == r["input"].strip() and r["output"].strip() for r in rows)


# ---------------------------------------------------------------- what users bring
def test_a_windows_saved_utility_file_reads_like_the_benchmark(tmp_path):
    # UTF-8 with a BOM and CRLF line ends, as Notepad saves it
    rows = _general()["probe"].to_list()
    text = "\r\n".join(json.dumps(r) for r in rows) + "\r\n"
    path = tmp_path / "general_knowledge.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert ev.load_general_knowledge(path) == rows
    assert ev.limit_items(path, 1) == rows[:1]
    path.write_bytes(b"\xef\xbb\xbf" + text.replace('"3 songs"', '""').encode())
    with pytest.raises(CourseError, match=r"general_knowledge\.jsonl line 2: output "
                                          "is empty"):
        ev.load_general_knowledge(path)


def test_a_tokenizer_without_pad_token_pads_with_eos(model, tokenizer):
    # GPT-2 as shipped has no pad token; the official kit pads with EOS
    bare = train_tokenizer(TEXTS, vocab_size=300)
    bare.pad_token = None
    prompts = ["The baker of Amberton", "Who sings"]
    assert (generation.generate(model, bare, prompts, 4, 2, progress=False)
            == generation.generate(model, tokenizer, prompts, 4, 2, progress=False))
    bare.pad_token = None
    losses = membership.document_losses(model, bare, TEXTS[:3])
    assert losses == pytest.approx(membership.document_losses(model, tokenizer,
                                                              TEXTS[:3]))


def test_empty_lists_and_qa_only_forget_sets_get_the_course_messages(model, tokenizer):
    with pytest.raises(CourseError, match="no texts to score"):
        membership.document_losses(model, tokenizer, [])
    with pytest.raises(CourseError, match="no texts to score"):
        membership.perplexity(model, tokenizer, [])
    bench = _benchmark()
    qa_only = DatasetDict({name: split.filter(lambda r: r["id"].endswith("qa0"))
                           if name.startswith("forget") else split
                           for name, split in bench.items()})
    with pytest.raises(CourseError, match="MIA needs member and non-member"):
        membership.membership(model, tokenizer, qa_only, 4)
    with pytest.raises(CourseError, match="MIA needs member and non-member"):
        ev.evaluate_model(model, tokenizer, qa_only, CONFIG, stage="s",
                          general=_general(), progress=False)


def test_rouge_cannot_see_non_latin_text():
    # the official tokenizer keeps a-z and 0-9 only: verbatim Greek scores 0
    greek, japanese = "Η Βέσσα γύρισε σπίτι με το φανάρι", "ヴェッサは灯りを持って帰った"
    assert ev.rouge_tokens(greek) == [] and ev.rouge_tokens(japanese) == []
    assert ev.regurgitation_score(greek, greek) == 0.0
    assert ev.regurgitation_score(japanese, japanese) == 0.0
    assert ev.rouge_tokens("Vessa came home, days") == ["vessa", "came", "home", "day"]
    assert ev.regurgitation_score("Vessa came home", "Vessa came home") == 1.0
