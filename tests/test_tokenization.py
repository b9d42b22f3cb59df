import json

import pytest

from helpers.data import load_reviews
from helpers.tokenization import (
    SPECIAL_TOKENS,
    build_char_tokenizer,
    load_course_tokenizer,
    show_tokens,
    tokenizer_dir,
    tokenizer_training_texts,
    unk_rate,
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_course_tokenizer()


def tokens(tokenizer, text):
    return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_vocabulary_and_special_tokens(tokenizer):
    assert 5_000 < len(tokenizer) < 8_000
    ids = [tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS]
    assert ids == [0, 1, 2, 3, 4]
    assert (tokenizer.pad_token, tokenizer.cls_token, tokenizer.sep_token, tokenizer.mask_token) == (
        "[PAD]", "[CLS]", "[SEP]", "[MASK]")


def test_one_token_per_chinese_character(tokenizer):
    assert tokens(tokenizer, "这本书写得真好") == list("这本书写得真好")


def test_digits_latin_and_full_width(tokenizer):
    assert tokens(tokenizer, "1998年") == ["1", "9", "9", "8", "年"]
    assert tokens(tokenizer, "１９９８年") == ["1", "9", "9", "8", "年"]  # NFKC
    assert tokens(tokenizer, "iPhone") == tokens(tokenizer, "iphone")  # lower-cased
    assert "[UNK]" not in tokens(tokenizer, "iphone kindle wifi ok")


def test_special_tokens_wrap_a_text(tokenizer):
    pairs = show_tokens(tokenizer, "好")
    assert [token for token, _ in pairs] == ["[CLS]", "好", "[SEP]"]


def test_decode_joins_chinese_without_spaces(tokenizer):
    ids = tokenizer("质量很好，推荐！")["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "质量很好,推荐!"


def test_unk_rate_on_test_split_below_half_a_percent(tokenizer):
    assert unk_rate(tokenizer, load_reviews()["test"]["text"]) < 0.005


def test_save_and_reload_round_trip(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    reloaded = load_course_tokenizer(tmp_path)
    texts = ["酒店服务很好", "ＡＢＣ１２３ iPhone", "好评😊"]
    assert reloaded(texts)["input_ids"] == tokenizer(texts)["input_ids"]
    assert len(reloaded) == len(tokenizer)


def test_rebuilding_gives_the_shipped_vocabulary(tokenizer):
    rebuilt = build_char_tokenizer(tokenizer_training_texts())
    assert rebuilt.get_vocab() == tokenizer.get_vocab()
    shipped = json.loads((tokenizer_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    assert shipped["normalizer"]["type"] == "Sequence"


def test_empty_and_very_long_text(tokenizer):
    assert tokenizer("")["input_ids"] == [tokenizer.cls_token_id, tokenizer.sep_token_id]
    long_text = "好" * 100_000
    ids = tokenizer(long_text, truncation=True, max_length=128)["input_ids"]
    assert len(ids) == 128 and ids[-1] == tokenizer.sep_token_id


@pytest.mark.parametrize("bad", [None, 42, ["a"]])
def test_show_tokens_rejects_non_strings(tokenizer, bad):
    with pytest.raises(TypeError, match="expects a str"):
        show_tokens(tokenizer, bad)


@pytest.mark.parametrize("bad", ["a single string", [], None])
def test_unk_rate_needs_a_list(tokenizer, bad):
    with pytest.raises(ValueError, match="non-empty list"):
        unk_rate(tokenizer, bad)


def test_build_rejects_a_single_string():
    with pytest.raises(ValueError, match="list of strings"):
        build_char_tokenizer("只有一个字符串")


def test_missing_tokenizer_folder_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m helpers.tokenization"):
        load_course_tokenizer(tmp_path)
