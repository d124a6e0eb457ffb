"""Black-box robustness: what a shop's messy review files do to sentiment and classification.

Each test here failed on the code before the robustness pass (see docs/TEXT.md, "Bad input").
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.errors import InputError
from shelfwise.service import text as text_service
from shelfwise.text import sentiment
from shelfwise.text.classify import ClassifierOptions, TextClassifier, train_classifier
from shelfwise.text.inputs import clean_text

from .conftest import make_reviews, write_csv

runner = CliRunner()


@pytest.fixture()
def model_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    for lang in ("en", "zh"):
        texts, labels = make_reviews(300, lang, seed=7)
        train_classifier(texts, labels, sentiment.default_model_dir(lang, root), ClassifierOptions(method="tfidf"))
    return root


def test_html_entities_decoded_and_tags_removed() -> None:
    assert clean_text("Terrible &amp; broken &quot;refund&quot; &#34;now&#34;") == 'Terrible & broken "refund" "now"'
    assert clean_text("<p>Awful</p><br/>do not buy") == "Awful  do not buy"
    assert clean_text("I <3 it, a < b") == "I <3 it, a < b"  # not tags
    assert clean_text("&lt;3 love") == "<3 love"
    assert clean_text("<br/>") == ""  # only markup: empty


def test_language_column_names_the_script() -> None:
    assert sentiment.language_of("這個產品質量很差，非常失望") == "zh"  # traditional Chinese
    assert sentiment.language_of("좋아요 정말 최고예요") == "ko"
    assert sentiment.language_of("とても良い商品でした") == "ja"
    assert sentiment.language_of("😀😀👍") == ""
    assert sentiment.language_of("!!!???...") == ""
    assert sentiment.language_of("5 stars!!") == "en"
    assert sentiment.language_of("iPhone 很好用") == "zh"


def test_mixed_script_reviews_go_by_words_not_characters() -> None:
    """Punctuation, web addresses and long Latin words outnumbered the Han characters of Chinese reviews:
    100 of the 62,773 reviews of a Chinese review set went to the English model (8 now, all Latin script)."""
    assert sentiment.language_of("不错。。。。。。。。。。") == "zh"  # was 'en': 2 Han of 12 characters
    assert sentiment.language_of("很不错哦.................") == "zh"
    assert sentiment.language_of("这个 Bluetooth headset 音质不错") == "zh"  # 6 Han, 16 Latin letters
    assert sentiment.language_of("原文请见http://blog.example.com/31436136_d.html") == "zh"
    assert sentiment.language_of("差评(*｀Ω*)v") == "zh"  # single letters of an emoticon are not words
    assert sentiment.language_of("Great product, fast delivery 好") == "en"
    assert sentiment.language_of("see www.example.com it is great") == "en"


def test_no_words_and_unsupported_languages_are_not_scored(model_root: Path) -> None:
    models = sentiment.SentimentModels.default(model_root)
    df = sentiment.score_texts(["😀😀👍", "!!!", "좋아요 정말 최고예요", "the mug is terrible", "衣服收到了，很满意", " "],
                               models)
    assert df["language"].tolist() == ["", "", "ko", "en", "zh", ""]
    assert df["label"].tolist() == ["", "", "", "negative", "positive", ""]
    assert df["probability"].isna().tolist() == [True, True, True, False, False, True]
    assert df.attrs["unscored"] == {"empty": 1, "no_words": 2, "unsupported_language": 1}


def _sentiment_file(tmp_path: Path, model_root: Path, rows: list[list[str]], out_name: str) -> dict:
    inp = write_csv(tmp_path / "in.csv", ["id", "text"], rows)
    return text_service.sentiment_score(None, inp, "text", tmp_path / out_name,
                                        model_root / "sentiment" / "en", model_root / "sentiment" / "zh")


def test_sentiment_file_reports_cuts_and_share_of_scored_rows(tmp_path: Path, model_root: Path) -> None:
    rows = [["1", "the mug is terrible " * 400], ["2", ""], ["3", "this gift is fantastic"], ["4", "👍"]]
    summary = _sentiment_file(tmp_path, model_root, rows, "o.csv")
    assert summary["text_stats"]["truncated_chars"] == 1  # was 0: the count of the file read was lost
    assert summary["text_stats"]["empty"] == 1
    assert summary["rows"] == 4 and summary["scored"] == 2
    assert summary["share_positive"] == 0.5  # of the 2 scored rows, not of all 4
    assert summary["unscored"] == {"empty": 1, "no_words": 1, "unsupported_language": 0}
    out = list(csv.DictReader((tmp_path / "o.csv").open(encoding="utf-8", newline="")))
    assert list(out[0]) == ["label", "probability", "language"]
    assert [r["label"] for r in out] == ["negative", "", "positive", ""]
    assert all(0 <= float(r["probability"]) <= 1 for r in out if r["probability"])


def test_output_types_follow_the_name(tmp_path: Path, model_root: Path) -> None:
    rows = [["1", "the mug is terrible"], ["2", ""]]
    _sentiment_file(tmp_path, model_root, rows, "o.csv.gz")
    with gzip.open(tmp_path / "o.csv.gz", "rt", encoding="utf-8") as fh:  # was plain CSV under a .gz name
        assert list(csv.reader(fh))[1][0] == "negative"
    _sentiment_file(tmp_path, model_root, rows, "o.csv")
    raw = (tmp_path / "o.csv").read_bytes()  # the one table writer: LF line ends, as the other commands
    assert b"\r\n" not in raw and raw.decode("utf-8").splitlines()[2] == ",,"
    _sentiment_file(tmp_path, model_root, rows, "o.parquet")
    t = pq.read_table(tmp_path / "o.parquet").to_pylist()  # was CSV text under a .parquet name
    assert t[0]["label"] == "negative" and 0 <= t[0]["probability"] < 0.5 and t[1]["probability"] is None
    _sentiment_file(tmp_path, model_root, rows, "o.jsonl")
    recs = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    assert recs[1] == {"label": "", "probability": None, "language": ""}
    assert isinstance(recs[0]["probability"], float)


@pytest.mark.parametrize("name", ["o.txt", "o.xlsx", "o"])
def test_bad_output_name_is_refused_before_scoring(tmp_path: Path, model_root: Path, name: str) -> None:
    with pytest.raises(InputError, match="output must end in"):
        _sentiment_file(tmp_path, model_root, [["1", "good"]], name)
    assert not (tmp_path / name).exists()
    res = runner.invoke(app, ["classify", "--model", str(tmp_path / "nope"), "--input", str(tmp_path / "in.csv"),
                              "--text-col", "text", "--out", str(tmp_path / name)])
    assert res.exit_code == 2 and name in res.output and "output must end in" in res.output


def test_single_class_names_the_file_and_column(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "one.csv", ["review", "stars"], [["good", "positive"], ["fine", "positive"], ["", "x"]])
    with pytest.raises(InputError, match=r"one\.csv \(column 'stars'\) has a single class"):
        text_service.finetune_classify(f, "review", "stars", tmp_path / "m", method="tfidf")
    with pytest.raises(InputError, match=r"one\.csv \(column 'stars'\) has a single class"):
        text_service.sentiment_train(["en"], train=f, text_col="review", label_col="stars", out=tmp_path / "s",
                                     method="tfidf")


def test_sentiment_train_reads_star_ratings(tmp_path: Path) -> None:
    texts, labels = make_reviews(120, "en", seed=3)
    stars = [("5" if i % 4 else "4") if lab == "positive" else ("1" if i % 4 == 1 else "2")
             for i, lab in enumerate(labels)]
    rows = [[t, s] for t, s in zip(texts, stars)] + [["the lamp is ok I guess", "3"], ["the mug is so so", "3"]]
    f = write_csv(tmp_path / "r.csv", ["text", "rating"], rows)
    report = text_service.sentiment_train(["en"], train=f, text_col="text", label_col="rating",
                                          out=tmp_path / "m", method="tfidf")["en"]
    assert report["labels_from"] == "ratings" and report["neutral_dropped"] == 2
    assert report["labels"] == ["negative", "positive"] and report["valid"]["accuracy"] == 1.0
    clf = TextClassifier.load(tmp_path / "m")
    assert clf.predict(["the mug is terrible"]).labels == ["negative"]  # rating 1 is negative, not "1" = positive
    # 0/1 labels keep their meaning
    f01 = write_csv(tmp_path / "b.csv", ["text", "y"], [[t, "1" if lab == "positive" else "0"]
                                                      for t, lab in zip(texts, labels)])
    r01 = text_service.sentiment_train(["en"], train=f01, text_col="text", label_col="y", out=tmp_path / "b",
                                       method="tfidf")["en"]
    assert r01["labels_from"] == "labels" and r01["valid"]["accuracy"] == 1.0
    assert sentiment.are_ratings(["1", "1"]) is False and sentiment.are_ratings(["0", "1", "5"]) is False
    assert sentiment.are_ratings(["1.0", "5.0", "3"]) is True


def test_token_cuts_counted_for_encoder_linear_models(tmp_path: Path, en_reviews) -> None:
    texts, labels = en_reviews
    out = tmp_path / "linear"
    train_classifier(texts[:120], labels[:120], out,
                     ClassifierOptions(method="linear", epochs=1, max_length=32, max_train_rows=120))
    pred = TextClassifier.load(out).predict(["the mug is great " * 40, "the mug is great"])
    assert pred.truncated == 1  # was 0: linear and hybrid never counted the encoder's cut
    assert np.all((pred.proba >= 0) & (pred.proba <= 1))


def test_cli_sentiment_file_on_messy_input(tmp_path: Path, model_root: Path, monkeypatch) -> None:
    from shelfwise.config import get_settings

    monkeypatch.setenv("SHELFWISE_MODEL_DIR", str(model_root))
    get_settings.cache_clear()
    try:
        inp = tmp_path / "in.csv"
        with inp.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "id"])
            w.writerows([["the mug is\nterrible", "a"], ["這個杯子很好，非常喜歡", "b"], ["   ", "c"],
                         ["とても良い商品でした", "d"], ["the lamp &amp; the mug are great", "e"]])
        res = runner.invoke(app, ["sentiment", "--input", str(inp), "--out", str(tmp_path / "o.jsonl"), "--json"])
        assert res.exit_code == 0, res.output
        summary = json.loads(res.stdout)
        assert summary["rows"] == 5 and summary["scored"] == 3
        out = pd.read_json(tmp_path / "o.jsonl", lines=True, dtype=False)
        assert list(out.columns) == ["label", "probability", "language"]
        assert out["language"].tolist() == ["en", "zh", "", "ja", "en"]
        assert out["label"].tolist() == ["negative", "positive", "", "", "positive"]
    finally:
        get_settings.cache_clear()


def test_complaint_terms_drop_punctuation_edges() -> None:
    weights = {"差，": 3.0, "很差": 2.0, "，退": 1.5, "退货": 1.0}
    terms = sentiment.complaint_terms(["质量很差，退货"], weights,
                                      lambda t: [t[i:i + 2] for i in range(len(t) - 1)])
    assert terms == ["很差", "退货"]  # was ["差，", "很差", "，退" ...]: n-grams cut at punctuation


def test_store_summary_counts_scored_reviews(tmp_path: Path, store, model_root: Path) -> None:
    from shelfwise.data.ingest import ingest

    shop = tmp_path / "shop"
    shop.mkdir()
    write_csv(shop / "items.csv", ["item_id", "title"], [["A", "mug"], ["D", "never reviewed"], ["E", "emoji"]])
    write_csv(shop / "reviews.csv", ["item_id", "text", "review_id"],
              [["A", "the mug is terrible", "a1"], ["A", "the mug is great", "a2"], ["E", "👍👍", "e1"],
               ["E", "とても良い商品でした", "e2"]])
    ingest(shop, store)
    summary = sentiment.score_store(store, sentiment.SentimentModels.default(model_root))
    assert summary["reviews"] == 4 and summary["scored"] == 2 and summary["share_positive"] == 0.5
    assert summary["unscored"] == {"empty": 0, "no_words": 1, "unsupported_language": 1}
    per = store.read_pandas("review_sentiment").set_index("review_key")
    assert per.loc["e2", "language"] == "ja" and per.loc["e1", "label"] == "" and pd.isna(per.loc["e1", "probability"])
    items = store.read_pandas("item_sentiment")
    assert items["item_id"].tolist() == ["A"]  # items with no scored review get no row (documented)


def test_a_file_with_its_own_line_column_keeps_the_file_line_numbers(tmp_path: Path) -> None:
    # the reader's line numbers are its last column; "_line" by name was ambiguous (two columns of that name)
    from shelfwise.text.inputs import read_texts

    p = tmp_path / "reviews.csv"
    p.write_text("_line,text,label\n7,good mug,pos\n9,bad lid,neg\n")
    table = read_texts(p, "text", "label")
    assert table.lines == [2, 3] and table.texts == ["good mug", "bad lid"] and table.labels == ["pos", "neg"]


def test_model_loading_draws_no_weight_bar_and_restores_the_switch() -> None:
    # transformers 5 drew "Loading weights" on stderr for every local model load (e.g. inside evaluate)
    from transformers.utils import logging as hf_logging

    from shelfwise.text.encoder import quiet_weight_loading

    assert hf_logging.is_progress_bar_enabled()
    with quiet_weight_loading():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()   # training keeps its bars


# --- second robustness pass (each failed on the code before it) -------------------------------------------


@pytest.mark.parametrize("field, value", [("learning_rate", float("nan")), ("learning_rate", -1.0),
                                          ("learning_rate", float("inf")), ("patience", -1)])
def test_classifier_options_that_mean_nothing_are_refused(field: str, value: float) -> None:
    # a NaN or negative --lr silently fell back to the default rate; a negative --patience was taken
    with pytest.raises(InputError, match=field):
        ClassifierOptions(method="lora", **{field: value}).validate()


def test_finetune_classify_out_that_is_a_file_fails_before_training(tmp_path: Path, en_reviews) -> None:
    # --out naming a file (or a folder under a file) ended, after training, in a FileExistsError /
    # NotADirectoryError traceback
    train = write_csv(tmp_path / "train.csv", ["text", "label"], [list(r) for r in zip(*en_reviews)])
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for out in (a_file, a_file / "model"):
        with pytest.raises(InputError, match="file"):
            text_service.finetune_classify(train, "text", "label", out, method="tfidf")
        res = runner.invoke(app, ["finetune", "classify", "--train", str(train), "--text-col", "text",
                                  "--label-col", "label", "--out", str(out), "--method", "tfidf"])
        assert res.exit_code == 2 and "Traceback" not in res.output and "notes.txt" in res.output, res.output
    assert a_file.read_text() == "x"


def _basket_shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(6)], "title": [f"thing {i}" for i in range(6)],
                          "description": None, "category": None, "brand": None})
    events = pd.DataFrame([{"timestamp": pd.Timestamp("2024-01-01") + pd.Timedelta(hours=o), "user_id": f"u{o}",
                            "item_id": f"i{(o + j) % 6}", "event": "purchase", "session_id": None,
                            "order_id": f"o{o}"} for o in range(40) for j in range(2)])
    return items, events


@pytest.mark.parametrize("field, value", [("epochs", 0), ("max_pairs", 0), ("max_pairs", -5), ("batch_size", 1),
                                          ("learning_rate", 0.0), ("learning_rate", float("nan")),
                                          ("max_length", 0)])
def test_item_tuning_settings_that_mean_nothing_are_refused(tmp_path: Path, field: str, value: float) -> None:
    # --epochs 0 "tuned" in 0 steps, printed "loss nan -> nan" and saved the untuned encoder where the
    # recommender looks; --max-pairs 0 blamed the shop ("only 1 pairs ... are bought together")
    from shelfwise.text.behaviour import TuneParams, tune

    items, events = _basket_shop()
    with pytest.raises(InputError, match=field):
        tune(items, events, tmp_path / "enc", params=TuneParams(**{field: value}))
    assert not (tmp_path / "enc").exists()


def test_item_tuning_out_that_is_a_file_fails_before_work(tmp_path: Path) -> None:
    from shelfwise.text.behaviour import TuneParams, tune

    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    items, events = _basket_shop()
    for out in (a_file, a_file / "enc"):
        with pytest.raises(InputError, match="is a file"):
            tune(items, events, out, params=TuneParams(batch_size=2))
    assert a_file.read_text() == "x"


def test_a_missing_model_is_found_before_any_language_is_scored(tmp_path: Path, monkeypatch) -> None:
    # with an English model and no Chinese one, the English rows were scored first (minutes on a big
    # file) and only then did the run fail on the missing Chinese model
    root = tmp_path / "models"
    texts, labels = make_reviews(60, "en", seed=3)
    train_classifier(texts, labels, sentiment.default_model_dir("en", root), ClassifierOptions(method="tfidf"))
    calls: list[int] = []
    real = TextClassifier.predict
    monkeypatch.setattr(TextClassifier, "predict", lambda self, t, **kw: calls.append(len(t)) or real(self, t, **kw))
    models = sentiment.SentimentModels.default(root)
    with pytest.raises(Exception, match="no zh sentiment model"):
        sentiment.score_texts(["great mug, love it", "这个杯子很好用"], models)
    assert calls == []


def test_sentiment_out_without_input_is_refused(tmp_path: Path, store, model_root: Path, monkeypatch) -> None:
    # --out only goes with --input; scoring the store with --out wrote nothing and said nothing (exit 0)
    monkeypatch.setenv("SHELFWISE_MODEL_DIR", str(model_root))
    with pytest.raises(InputError, match="--input"):
        text_service.sentiment_score(store.url, None, out=tmp_path / "s.csv")
    url = store.url
    store.close()
    res = runner.invoke(app, ["sentiment", "--db", url, "--out", str(tmp_path / "s.csv")])
    assert res.exit_code == 2 and "--input" in res.output, res.output
    assert not (tmp_path / "s.csv").exists()


def test_sentiment_train_from_a_file_refuses_an_unknown_language(tmp_path: Path) -> None:
    # --lang xx with --train trained a (slow, default-method) model into sentiment/xx that nothing reads;
    # without --train the same --lang was refused
    texts, labels = make_reviews(40, "en")
    train = write_csv(tmp_path / "t.csv", ["text", "label"], [list(r) for r in zip(texts, labels)])
    with pytest.raises(InputError, match="unknown language 'xx'"):
        text_service.sentiment_train(["xx"], train=train, text_col="text", label_col="label",
                                     out=tmp_path / "m", method="tfidf")
    assert not (tmp_path / "m").exists()


def test_share_positive_of_nothing_scored_is_undefined(tmp_path: Path, model_root: Path) -> None:
    # a header-only file reported "share_positive": 0.0 (every review negative) for no review at all
    src = write_csv(tmp_path / "h.csv", ["text"], [])
    summary = text_service.sentiment_score(None, src, "text", tmp_path / "o.csv", sentiment.default_model_dir("en", model_root),
                                           sentiment.default_model_dir("zh", model_root))
    assert summary["rows"] == 0 and summary["scored"] == 0 and np.isnan(summary["share_positive"])
    res = runner.invoke(app, ["sentiment", "--input", str(src), "--out", str(tmp_path / "o2.csv"),
                              "--model-en", str(sentiment.default_model_dir("en", model_root)),
                              "--model-zh", str(sentiment.default_model_dir("zh", model_root))])
    assert res.exit_code == 0 and "nan" not in res.output and "n/a" in res.output, res.output
    res = runner.invoke(app, ["sentiment", "--json", "--input", str(src), "--out", str(tmp_path / "o3.csv"),
                              "--model-en", str(sentiment.default_model_dir("en", model_root)),
                              "--model-zh", str(sentiment.default_model_dir("zh", model_root))])
    assert json.loads(res.stdout)["share_positive"] is None
