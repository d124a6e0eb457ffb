"""Bad input: empty and whitespace text, long text, invalid UTF-8, single-class and unseen labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.errors import InputError
from shelfwise.text.inputs import check_labels, clean_text, clean_texts, read_texts

from .conftest import write_csv


def test_clean_text_counts_what_it_does() -> None:
    texts, stats = clean_texts(["  ok  ", "", "   \t\n", None, 3.0, "x" * 50, "bad \ud800 surrogate", "a\x00b"],
                               max_chars=20)
    assert texts[0] == "ok"
    assert texts[1:5] == ["", "", "", ""]
    assert texts[5] == "x" * 20
    assert "\ud800" not in texts[6] and texts[6].encode("utf-8")
    assert texts[7] == "a b"
    assert stats.as_dict() == {"rows": 8, "empty": 4, "truncated_chars": 1, "truncated_tokens": 0, "repaired": 1}


def test_clean_text_strips_bom() -> None:
    assert clean_text("\ufeff质量很好") == "质量很好"


def test_read_texts_keeps_order_and_empty_rows(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "r.csv", ["text", "label"], [["good", "positive"], ["  ", ""], ["bad", "negative"]])
    t = read_texts(f, "text", "label")
    assert t.texts == ["good", "", "bad"]
    assert t.labels == ["positive", "", "negative"]
    assert t.lines == [2, 3, 4]
    assert t.stats.empty == 1


def test_missing_column_names_the_columns(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "r.csv", ["review", "label"], [["good", "positive"]])
    with pytest.raises(InputError, match="no text column 'text'.*review, label"):
        read_texts(f, "text", "label")


def test_text_without_label_names_the_line(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "r.csv", ["text", "label"], [["good", "positive"], ["bad", ""]])
    with pytest.raises(InputError, match="line 3"):
        read_texts(f, "text", "label")


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(b"text,label\ngood,positive\nbad \xff\xfe text,negative\n")
    with pytest.raises(InputError) as exc:
        read_texts(f, "text", "label")
    assert "bad.csv" in str(exc.value) and "line 3" in str(exc.value)


def test_single_class_is_refused() -> None:
    with pytest.raises(InputError, match="single class"):
        check_labels(["positive"] * 10)


def test_validation_labels_unseen_in_training_are_refused() -> None:
    with pytest.raises(InputError, match="training data lacks.*'neutral'"):
        check_labels(["positive", "negative"], ["positive", "neutral"])


def test_validation_missing_a_label_is_allowed() -> None:
    assert check_labels(["a", "b", "c"], ["a", "b"]) == ["a", "b", "c"]
