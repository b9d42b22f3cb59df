"""The Hub switch for the GPT lessons: prompts start as the model was trained, metrics count real characters.

uer/gpt2-chinese-cluecorpussmall cannot be downloaded here, so a BertTokenizer with the same settings and the
course vocabulary stands in for its tokenizer (helpers.gpt_text.bert_style_tokenizer).
"""

import json

import pytest
import torch
from transformers import BertTokenizer

from helpers.gpt_text import bert_style_tokenizer, decode_text, decode_texts, is_course_gpt, text_start_ids
from helpers.models import load_tokenizer
from helpers.text_metrics import copies_stretch, distinct_n

REVIEW = "房间很干净，服务也好！iPhone 4 充电很快。"


@pytest.fixture(scope="module")
def course():
    return load_tokenizer("course-gpt")


@pytest.fixture(scope="module")
def hub_like(course, tmp_path_factory):
    return bert_style_tokenizer(course, tmp_path_factory.mktemp("hub-like"))


def test_the_stand_in_is_a_bert_tokenizer_that_decodes_with_spaces(hub_like):
    assert isinstance(hub_like, BertTokenizer)
    ids = hub_like(REVIEW)["input_ids"]
    assert ids[0] == hub_like.cls_token_id and ids[-1] == hub_like.sep_token_id  # [CLS] text [SEP], as uer trains
    assert "房 间 很 干 净" in hub_like.decode(ids)  # the behaviour that skews character metrics
    assert hub_like.unk_token_id not in ids  # full-width punctuation is in its vocabulary, as in the Hub one


def test_decode_text_gives_the_same_characters_for_both_tokenizers(course, hub_like):
    spaced = decode_text(hub_like, hub_like(REVIEW, add_special_tokens=False)["input_ids"])
    assert spaced == "房间很干净，服务也好！iphone 4充电很快。"  # lower-cased by BERT; the real space kept
    plain = decode_text(course, course(REVIEW, add_special_tokens=False)["input_ids"])
    assert plain.replace(",", "，").replace("!", "！") == spaced.replace(" ", "")  # NFKC folds full-width; no space
    assert " " not in decode_text(hub_like, hub_like("今天 天气 很好")["input_ids"])


def test_metrics_on_decoded_text_count_no_spaces(hub_like):
    ids = hub_like("好好好好", add_special_tokens=False)["input_ids"]
    naive = hub_like.decode(ids)
    assert distinct_n([naive], 2) == pytest.approx(2 / 6)  # "好 " and " 好": spaces counted as text
    assert distinct_n([decode_text(hub_like, ids)], 2) == pytest.approx(1 / 3)
    copied = hub_like("服务也好")["input_ids"]
    assert copies_stretch(decode_text(hub_like, copied), "前台服务也好。", 4)
    assert not copies_stretch(hub_like.decode(copied, skip_special_tokens=True), "前台服务也好。", 4)  # a copy missed


def test_decode_texts_takes_a_batch_and_drops_special_tokens(hub_like):
    batch = torch.tensor([hub_like("很好")["input_ids"], hub_like("很差")["input_ids"]])
    assert decode_texts(hub_like, batch) == ["很好", "很差"]
    with pytest.raises(TypeError, match="one sequence"):
        decode_text(hub_like, batch.tolist())


def test_text_start_follows_pretraining(course, hub_like, tmp_path):
    assert text_start_ids(course, "course-gpt") == [course.sep_token_id]  # documents follow a [SEP]
    assert text_start_ids(hub_like, "uer/gpt2-chinese-cluecorpussmall") == [hub_like.cls_token_id]
    folder = tmp_path / "continued-gpt"
    folder.mkdir()
    (folder / "training_record.json").write_text(json.dumps({"kind": "gpt"}))
    assert is_course_gpt(folder) and text_start_ids(course, folder) == [course.sep_token_id]
    assert not is_course_gpt(tmp_path) and not is_course_gpt("course-bert")
    with pytest.raises(TypeError, match="tokenizer"):
        text_start_ids("not a tokenizer", "course-gpt")
    with pytest.raises(TypeError, match="model name or folder"):
        is_course_gpt(42)


def test_bert_style_tokenizer_rejects_a_vocabulary_without_cls(tmp_path):
    class NoCls:
        def get_vocab(self):
            return {"[PAD]": 0, "好": 1}

    with pytest.raises(ValueError, match=r"\[CLS\]"):
        bert_style_tokenizer(NoCls(), tmp_path)
