"""bench/tradeoff.py's arguments: a bad --trainable spec fails before any curve."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import tradeoff  # noqa: E402
from companion.config import CourseError  # noqa: E402


def test_a_spec_that_moves_nothing_fails_before_the_curves(tmp_path):
    # h.9 does not exist in a 4-block preset: refused once the oracle is there,
    # not after every method's curve has been trained
    with pytest.raises(CourseError, match=r"'h\\\\.9' matches no parameter"):
        tradeoff.main(["--quick", "--trainable", r"h\.9", "--runs", str(tmp_path),
                       "--out-dir", str(tmp_path)])
    assert not any(tmp_path.rglob("stabilised"))  # no curve was started


def test_semeval_without_its_files_is_skipped_cleanly(tmp_path, monkeypatch, capsys):
    import quality
    monkeypatch.setattr(quality, "SEMEVAL_DIR", tmp_path / "no-semeval")
    assert tradeoff.main(["--data", "semeval", "--runs", str(tmp_path),
                          "--out-dir", str(tmp_path)]) is None
    assert "skipped: no SemEval-2025 parquet files" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written
