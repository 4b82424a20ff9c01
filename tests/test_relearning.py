"""The relearning attack trains only on documents it does not measure."""

import pytest
import torch

from companion import relearning
from companion.config import AttackConfig, CourseError, EvalConfig, TrainConfig
from companion.data import document_id, training_texts
from companion.models import train_tokenizer
from toy import as_dataset, items, tiny_gpt2
from datasets import DatasetDict

CONFIG = AttackConfig(relearn=TrainConfig(steps=4, batch_size=2, lr=1e-3),
                      measure_every=2)
EVAL = EvalConfig(max_new_tokens=4, batch_size=4)


@pytest.fixture(scope="module")
def benchmark():
    return DatasetDict({"forget_train": as_dataset(items("forget", list(range(6)))),
                        "forget_validation": as_dataset(items("forget", [20, 21, 22])),
                        "retain_train": as_dataset(items("retain", [10, 11, 12]))})


@pytest.fixture(scope="module")
def tokenizer(benchmark):
    texts = sum((training_texts(s) for s in benchmark.values()), [])
    return train_tokenizer(texts * 3, vocab_size=300)


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_gpt2(tokenizer, n_embd=16)


def test_split_is_by_whole_documents_and_disjoint(benchmark):
    attack, measured = relearning.split_forget(benchmark["forget_train"], 0.5, seed=3)
    a, m = set(map(document_id, attack["id"])), set(map(document_id, measured["id"]))
    assert len(a) == len(m) == 3 and not a & m
    assert len(attack) + len(measured) == len(benchmark["forget_train"])
    # at least one document on each side, whatever the fraction
    for fraction in (0.0, 1.0):
        attack, measured = relearning.split_forget(benchmark["forget_train"], fraction)
        assert len(attack) and len(measured)
    with pytest.raises(CourseError, match="two"):
        relearning.split_forget(benchmark["forget_train"].select([0, 1]), 0.5)


@pytest.mark.parametrize("source", relearning.SOURCES)
def test_never_trains_on_the_documents_it_measures(benchmark, tokenizer, model,
                                                   monkeypatch, source):
    seen, measured_docs = [], []
    make_batches, measure = relearning.make_batches, relearning.measure

    def spy_batches(tok, texts, *args):
        seen.extend(texts)
        return make_batches(tok, texts, *args)

    def spy_measure(net, tok, measured, *args):
        measured_docs.extend(map(document_id, measured["id"]))
        return measure(net, tok, measured, *args)

    monkeypatch.setattr(relearning, "make_batches", spy_batches)
    monkeypatch.setattr(relearning, "measure", spy_measure)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    curve = relearning.relearning_curve(model, tokenizer, benchmark, CONFIG, EVAL,
                                        source=source)
    assert curve["step"].tolist() == [0, 2, 4]
    assert curve["mia_auc"].between(0, 1).all()
    measured = set(measured_docs)
    texts = set(training_texts(benchmark["forget_train"].filter(
        lambda r: document_id(r["id"]) in measured)))
    assert measured and seen and not texts & set(seen)
    if source == "forget":  # it does train on the other forget documents
        assert set(seen) <= set(training_texts(benchmark["forget_train"]))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_a_leak_is_refused(benchmark, monkeypatch):
    # an attacker given every forget document would train on the measured ones
    monkeypatch.setattr(relearning, "attack_texts",
                        lambda b, attack, source: training_texts(b["forget_train"]))
    with pytest.raises(CourseError, match="never trains on"):
        relearning.relearning_curve(None, None, benchmark, CONFIG, EVAL)


def test_recovered_reads_before_peak_and_end():
    import pandas as pd
    curves = pd.DataFrame({"step": [0, 2, 4], "regurgitation": [0.1, 0.6, 0.4],
                           "mia_auc": 0.5, "source": "forget", "model": "m"})
    row = relearning.recovered(curves).iloc[0]
    assert (row["before"], row["peak"], row["after"]) == (0.1, 0.6, 0.4)
    assert row["gain"] == pytest.approx(0.5)
