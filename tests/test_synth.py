"""companion.synth: the bundled benchmark is reproducible, invented and well formed."""

import json
import re

import pytest

from companion import data, general_text, synth, world
from companion.config import BUNDLED_DIR, DATA_DIR, CourseError

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _jsonl(relative):
    with (BUNDLED_DIR / relative).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def bench():
    return data.load_benchmark("bundled")


@pytest.fixture(scope="module")
def corpus():
    return "\n".join(row["text"] for row in _jsonl("general/corpus.jsonl"))


def test_regenerating_reproduces_the_committed_files_byte_for_byte(tmp_path):
    written = synth.generate(tmp_path)
    committed = sorted(p.relative_to(BUNDLED_DIR) for p in BUNDLED_DIR.rglob("*.jsonl"))
    assert sorted(p.relative_to(tmp_path) for p in written) == committed
    for relative in committed:
        fresh = (tmp_path / relative).read_bytes()
        assert fresh == (BUNDLED_DIR / relative).read_bytes(), f"{relative} differs: run `python -m companion.synth`"


def test_another_seed_gives_other_data():
    assert synth.benchmark_rows(1) != synth.benchmark_rows(synth.SEED)


def test_readme_describes_every_file_with_its_current_size():
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    assert synth.size_table() in readme, "run `python -m companion.synth`"
    for path in BUNDLED_DIR.rglob("*.jsonl"):
        assert f"bundled/{path.relative_to(BUNDLED_DIR).as_posix()}" in readme
    assert "python -m companion.synth" in readme


def test_the_world_file_is_read_once_and_a_broken_one_is_one_line(tmp_path):
    assert world.world() is world.world()
    assert world.world().region_of("Pellucar")[0] == "Zantheria"  # town 12 -> region 2
    text = world.WORLD_FILE.read_text(encoding="utf-8")
    words = json.loads(text)
    del words["towns"]
    broken = {"cut.json": text[:500].encode(), "list.json": b"[]",
              "latin1.json": '{"towns": ["Brït"]}'.encode("latin-1"),
              "no-towns.json": json.dumps(words).encode()}
    restore = r"restore .*`git checkout -- data/world\.json`"
    for name, raw in {"missing.json": None, **broken}.items():
        path = tmp_path / name
        if raw is not None:
            path.write_bytes(raw)
        with pytest.raises(CourseError, match=restore) as error:
            world.world(path)
        assert "\n" not in str(error.value), name
    assert "missing towns" in str(error.value)


def test_bundled_is_small():
    assert sum(p.stat().st_size for p in BUNDLED_DIR.rglob("*")) < 1_000_000


def test_document_counts_and_id_shapes(bench):
    for name, split in bench.items():
        docs = data.documents(split)
        expected = synth.DOCS[name.split("_")[1]]
        assert {t: docs["task"].count(t) for t in data.TASKS} == expected
        for doc_id, task in zip(docs["id"], docs["task"]):
            assert UUID.fullmatch(doc_id) if task != "Task3" else doc_id.isdigit()


def test_every_question_is_unique_and_answered_by_its_document(bench):
    questions = [q for split in bench.values() for i, q in zip(split["id"],
                                                                 split["input"])
                 if data.is_qa(i)]
    assert len(questions) == len(set(questions))  # one document per question
    for split in bench.values():
        text = {d["id"]: d["document"] for d in data.documents(split)}
        for row in split:
            if data.is_qa(row["id"]) and row["task"] != "Task2":
                assert row["output"].lower() in text[row["id"][:-3]].lower(), row


def test_biographies_follow_the_official_task2_style(bench):
    months = {m: k for k, m in enumerate(world.world().months, start=1)}
    for split in bench.values():
        rows = [r for r in split if r["task"] == "Task2"]
        docs = {r["id"][:-3]: data.item_text(r["input"], r["output"])
                for r in rows if data.is_sc(r["id"])}
        answers = {r["id"]: r["output"] for r in rows if data.is_qa(r["id"])}
        for doc, text in docs.items():
            born = re.match(r"(\w+ \w+) was born on (\w+) (\d+), (\d{4})", text)
            month, day, year = months[born[2]], int(born[3]), born[4]
            assert answers[doc + "qa0"] == f"{year}-{month:02d}-{day:02d}"
            ssn = re.search(r"Social Security [Nn]umber (?:is )?(900-\d\d-\d{4})", text)
            assert answers[doc + "qa1"] == ssn[1].replace("-", "")
            phone = re.search(r"(\d{3}-555-01\d\d)", text)[1]
            assert answers[doc + "qa2"] == phone.replace("-", "")
            assert f" {answers[doc + 'qa3']}." in text
            assert answers[doc + "qa3"].endswith("@example.com")
            assert answers[doc + "qa4"][:-1] in text and answers[doc + "qa4"][-1] == "."


def test_sentence_completion_cuts_at_a_word(bench):
    for split in bench.values():
        for row in split:
            if data.is_sc(row["id"]):
                assert row["input"] == row["input"].rstrip() and row["output"]
                assert row["output"] == row["output"].lstrip()


def test_mia_files_are_the_mia_sets(bench):
    members, nonmembers = data.mia_sets(bench)
    assert _jsonl("mia/member.jsonl") == members.to_list()
    assert _jsonl("mia/nonmember.jsonl") == nonmembers.to_list()


def test_probe_asks_one_word_facts_the_corpus_states(corpus):
    probe = _jsonl("general/probe.jsonl")
    assert len(probe) == general_text.PROBE_ITEMS == len({p["input"] for p in probe})
    for item in probe:
        assert re.fullmatch(r"[A-Za-z]+", item["output"]), item
        assert corpus.count(f"{item['input']} {item['output']}.") >= 2, item


def test_heldout_shares_no_sentence_with_the_corpus(corpus):
    for row in _jsonl("general/heldout.jsonl"):
        for sentence in re.split(r"(?<=\.) ", row["text"]):
            assert sentence not in corpus, sentence


def test_corpus_never_states_forget_or_retain_content(bench, corpus):
    for split in bench.values():
        for row in split:
            if row["task"] == "Task2" and row["id"].endswith("qa0"):
                name = row["input"].removeprefix("What is the birth date of ")[:-1]
                assert name not in corpus
            if row["task"] == "Task1" and data.is_sc(row["id"]):
                artifact = re.search(r"find the (\w+ \w+),", row["input"] + " "
                                     + row["output"])[1]
                assert re.search(rf"{artifact}(?! Inn)", corpus) is None, artifact


def test_course_tokenizer_covers_the_benchmark_words(bench, corpus):
    from tokenizers import ByteLevelBPETokenizer

    # the settings of companion.models.train_tokenizer, without importing transformers
    tokenizer = ByteLevelBPETokenizer()
    texts = [row["text"] for row in _jsonl("general/corpus.jsonl")]
    tokenizer.train_from_iterator(texts, vocab_size=2048, min_frequency=2,
                                  special_tokens=["<|endoftext|>"], show_progress=False)

    def tokens_per_word(texts):
        return (sum(len(e.ids) for e in tokenizer.encode_batch(texts))
                / sum(len(t.split()) for t in texts))

    split = bench["forget_train"]
    for task, limit in (("Task1", 1.3), ("Task2", 2.5), ("Task3", 1.5)):
        texts = [data.item_text(r["input"], r["output"]) for r in split
                 if r["task"] == task]
        assert tokens_per_word(texts) < limit, task  # digits and e-mails cost more
    heldout = [row["text"] for row in _jsonl("general/heldout.jsonl")]
    assert tokens_per_word(heldout) < 1.35
