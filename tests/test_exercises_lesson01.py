"""Lesson 01: the solutions agree with the library (the wrong answers are in exercise_answers.MUTANTS)."""

import torch

import exercise_answers as a
from lesson_sources import failure


def test_non_tuple_answers_get_a_message():
    assert "return a tuple" in failure("01.1", lambda *args: args[0])
    assert "list of blocks" in failure("01.3", lambda token_lists, block_size, sep_id: "blocks")


def test_next_token_loss_matches_gpt2():
    from transformers import GPT2LMHeadModel

    from helpers.models import gpt_config
    from helpers.profiles import get_profile

    torch.manual_seed(0)
    model = GPT2LMHeadModel(gpt_config(get_profile("smoke"))).eval()
    ids = torch.randint(5, 500, (2, 16))
    with torch.no_grad():
        output = model(ids, labels=ids)
    assert torch.allclose(a.ref("01.2")(output.logits, ids), output.loss, atol=1e-5)


def test_pack_agrees_with_the_helper():
    from helpers.pretraining import pack_blocks
    from helpers.tokenization import load_course_tokenizer

    tokenizer = load_course_tokenizer()
    texts = ["今天天气很好", "我们去公园", "散步吧"] * 5
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert a.ref("01.3")(ids, 8, tokenizer.sep_token_id) == pack_blocks(texts, tokenizer, 8, wrap_cls_sep=False).tolist()
