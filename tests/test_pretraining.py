import math

import pytest
import torch
from transformers import BertForMaskedLM, DataCollatorForLanguageModeling, GPT2LMHeadModel

from helpers.models import bert_config, gpt_config
from helpers.pretraining import (
    IGNORE_INDEX,
    PretrainSettings,
    evaluate_causal_lm,
    evaluate_mlm,
    lr_at,
    mask_tokens,
    mlm_loss,
    pack_blocks,
    pretrain,
    special_token_ids,
)
from helpers.profiles import get_profile
from helpers.tokenization import load_course_tokenizer

TEXTS = ["今天天气很好，我们去公园散步。", "这本书写得真好，值得推荐。", "酒店服务一般，房间很小。"] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return load_course_tokenizer()


def sample_ids(tokenizer, rows=400, length=128, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, len(tokenizer), (rows, length), generator=generator)
    ids[:, 0], ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    ids[:, -20:-1] = tokenizer.pad_token_id  # padding at the end
    return ids


def masking_stats(original, inputs, labels, mask_id):
    selected = labels != IGNORE_INDEX
    n = selected.sum().item()
    masked = (inputs[selected] == mask_id).sum().item() / n
    kept = (inputs[selected] == original[selected]).sum().item() / n
    eligible = n / ((original > 4).sum().item())
    return eligible, masked, kept, 1 - masked - kept


def test_masking_statistics_match_the_80_10_10_rule_and_the_library(tokenizer):
    ids = sample_ids(tokenizer)
    ours = mask_tokens(ids, special_token_ids(tokenizer), tokenizer.mask_token_id, len(tokenizer),
                       0.15, torch.Generator().manual_seed(1))
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=1)
    theirs = collator.torch_mask_tokens(ids.clone())
    for inputs, labels in (ours, theirs):
        rate, masked, kept, randomised = masking_stats(ids, inputs, labels, tokenizer.mask_token_id)
        assert abs(rate - 0.15) < 0.01
        assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02 and abs(randomised - 0.1) < 0.02


def test_special_and_padding_tokens_are_never_selected(tokenizer):
    ids = sample_ids(tokenizer)
    inputs, labels = mask_tokens(ids, special_token_ids(tokenizer), tokenizer.mask_token_id, len(tokenizer), 0.5)
    special = ids <= 4
    assert (labels[special] == IGNORE_INDEX).all()
    assert torch.equal(inputs[special], ids[special])


def test_labels_hold_originals_where_selected_only(tokenizer):
    ids = sample_ids(tokenizer)
    inputs, labels = mask_tokens(ids, special_token_ids(tokenizer), tokenizer.mask_token_id, len(tokenizer))
    selected = labels != IGNORE_INDEX
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(inputs[~selected], ids[~selected])


def test_masking_is_deterministic_and_leaves_input_alone(tokenizer):
    ids = sample_ids(tokenizer, rows=8)
    before = ids.clone()
    run = lambda: mask_tokens(ids, special_token_ids(tokenizer), tokenizer.mask_token_id, len(tokenizer),
                              generator=torch.Generator().manual_seed(7))
    first, second = run(), run()
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert torch.equal(ids, before)


@pytest.mark.parametrize("probability", [0.0, 1.0, -0.1])
def test_masking_rejects_bad_probability(tokenizer, probability):
    with pytest.raises(ValueError, match="mlm_probability"):
        mask_tokens(sample_ids(tokenizer, rows=2), [0], 4, 100, probability)


def test_pack_blocks(tokenizer):
    bert_blocks = pack_blocks(TEXTS, tokenizer, 16, wrap_cls_sep=True)
    assert bert_blocks.shape[1] == 16
    assert (bert_blocks[:, 0] == tokenizer.cls_token_id).all() and (bert_blocks[:, -1] == tokenizer.sep_token_id).all()
    gpt_blocks = pack_blocks(TEXTS, tokenizer, 16, wrap_cls_sep=False)
    stream_length = sum(len(t) + 1 for t in TEXTS)  # one token per character here, plus [SEP]
    assert gpt_blocks.numel() == (stream_length // 16) * 16
    assert tokenizer.decode(gpt_blocks[0]).startswith("今天天气很好")


@pytest.mark.parametrize("texts,block_size,message", [([], 16, "non-empty"), ("一段文字", 16, "non-empty"),
                                                       (["短"], 16, "fewer than one block"), (TEXTS, 2, "block_size")])
def test_pack_blocks_bad_input(tokenizer, texts, block_size, message):
    with pytest.raises(ValueError, match=message):
        pack_blocks(texts, tokenizer, block_size, wrap_cls_sep=True)


def test_sparse_and_dense_mlm_loss_agree(tokenizer):
    torch.manual_seed(0)
    model = BertForMaskedLM(bert_config(get_profile("smoke"))).eval()
    ids = pack_blocks(TEXTS, tokenizer, 32, wrap_cls_sep=True)[:4]
    inputs, labels = mask_tokens(ids, special_token_ids(tokenizer), tokenizer.mask_token_id, len(tokenizer),
                                 generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        sparse = mlm_loss(model, inputs, labels, sparse=True)[0]
        dense = mlm_loss(model, inputs, labels, sparse=False)[0]
        library = model(input_ids=inputs, labels=labels).loss
    assert torch.allclose(sparse, dense, atol=1e-5) and torch.allclose(sparse, library, atol=1e-5)


def test_lr_schedule_warms_up_then_decays():
    settings = PretrainSettings(steps=100, learning_rate=1.0, warmup_fraction=0.1, min_lr_fraction=0.1)
    rates = [lr_at(step, settings) for step in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    assert rates[-1] == pytest.approx(0.1, abs=0.01)
    assert lr_at(50, settings, time_fraction=1.0) == pytest.approx(0.1)  # time box reached: floor


def test_time_boxed_schedule_warms_up_and_decays_by_time():
    # A time box with a generous step count: time must drive the warmup too (a step-based warmup of
    # 5% of 100,000 steps would never end within the box, and the learning rate would never decay).
    settings = PretrainSettings(steps=100_000, learning_rate=1.0, warmup_fraction=0.05, min_lr_fraction=0.1)
    assert lr_at(10, settings, time_fraction=0.025) == pytest.approx(0.5)
    assert lr_at(20, settings, time_fraction=0.05) == pytest.approx(1.0)
    assert lr_at(30, settings, time_fraction=0.525) == pytest.approx(0.55)
    assert lr_at(40, settings, time_fraction=0.999) == pytest.approx(0.1, abs=1e-3)


@pytest.mark.parametrize("kind", ["bert", "gpt"])
def test_pretraining_lowers_the_loss(tokenizer, kind):
    torch.manual_seed(0)
    smoke = get_profile("smoke")
    model = BertForMaskedLM(bert_config(smoke)) if kind == "bert" else GPT2LMHeadModel(gpt_config(smoke))
    blocks = pack_blocks(TEXTS, tokenizer, 32, wrap_cls_sep=kind == "bert")
    logged = []
    result = pretrain(model, blocks, tokenizer, PretrainSettings(steps=40, batch_size=8, learning_rate=3e-3,
                      log_every=10, mlm_probability=0.3), on_log=logged.append, progress=False)
    assert result.steps == 40 and len(logged) == 4 and result.tokens == 40 * 8 * 32
    assert logged[-1]["loss"] < logged[0]["loss"] - 0.5
    figures = evaluate_mlm(model, blocks, tokenizer) if kind == "bert" else evaluate_causal_lm(model, blocks)
    if kind == "bert":
        assert 0 <= figures["masked_accuracy"] <= 1 and figures["predictions"] > 0
    else:
        assert figures["perplexity"] == pytest.approx(math.exp(figures["loss"]))


def test_pretrain_rejects_other_models(tokenizer):
    with pytest.raises(TypeError, match="BertForMaskedLM or GPT2LMHeadModel"):
        pretrain(torch.nn.Linear(2, 2), torch.zeros(1, 8, dtype=torch.long), tokenizer, PretrainSettings(steps=1))
