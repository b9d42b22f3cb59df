"""Control tokens for lesson 06: initialisation, the loss mask (and why the old one did nothing), replay, scoring."""

import math

import pytest
import torch
from datasets import Dataset
from transformers import DataCollatorForLanguageModeling, GPT2LMHeadModel

from helpers.control_codes import (CONTROL_TOKENS, RELATED_CHARACTERS, add_control_tokens, collator, control_example,
                                   encode_reviews, generate_texts, interpolate_weights, per_class_accuracy,
                                   perplexity, plain_example, replay_count, replay_examples, share_positive)
from helpers.models import gpt_config, load_tokenizer
from helpers.profiles import get_profile


@pytest.fixture()
def tokenizer():
    return load_tokenizer("course-gpt")


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return GPT2LMHeadModel(gpt_config(get_profile("smoke"))).eval()


@pytest.fixture()
def controlled(model, tokenizer):
    ids = add_control_tokens(model, tokenizer, RELATED_CHARACTERS)
    return model, tokenizer, ids


def test_control_rows_start_as_the_mean_of_related_characters(controlled):
    model, tokenizer, ids = controlled
    assert set(ids) == {"[POS]", "[NEG]"} and len(tokenizer) == model.get_input_embeddings().weight.shape[0]
    embeddings = model.get_input_embeddings().weight
    for token, characters in RELATED_CHARACTERS.items():
        related = embeddings[[tokenizer.convert_tokens_to_ids(c) for c in characters]].mean(0)
        assert torch.allclose(embeddings[ids[token]], related)
        assert torch.equal(model.get_output_embeddings().weight[ids[token]], embeddings[ids[token]])  # tied
    assert tokenizer.convert_ids_to_tokens(tokenizer("[POS]很好", add_special_tokens=False)["input_ids"])[0] == "[POS]"


def test_add_control_tokens_rejects_unknown_or_missing_characters(model, tokenizer):
    with pytest.raises(ValueError, match="not a token"):
        add_control_tokens(model, tokenizer, {"[POS]": "好😀"})
    with pytest.raises(ValueError, match="related characters"):
        add_control_tokens(model, tokenizer, {})
    with pytest.raises(ValueError, match="at least one"):
        add_control_tokens(model, tokenizer, {"[POS]": ""})


def test_control_example_masks_the_start_and_the_control_token(controlled):
    _, tokenizer, ids = controlled
    sep = tokenizer.sep_token_id
    example = control_example("质量很好", "[POS]", tokenizer, [sep], 16)
    body = tokenizer("质量很好", add_special_tokens=False)["input_ids"]
    assert example["input_ids"] == [sep, ids["[POS]"], *body, sep]
    assert example["labels"] == [-100, -100, *body, sep]
    truncated = control_example("好" * 50, "[NEG]", tokenizer, [sep], 10)
    assert len(truncated["input_ids"]) == 10 and truncated["input_ids"][-1] == sep
    assert plain_example("新闻", tokenizer, [sep], 16)["labels"][0] == -100
    with pytest.raises(ValueError, match="add_control_tokens"):
        control_example("好", "[MAYBE]", tokenizer, [sep], 16)
    with pytest.raises(ValueError, match="no room"):
        control_example("好", "[POS]", tokenizer, [sep], 3)
    with pytest.raises(TypeError):
        control_example(None, "[POS]", tokenizer, [sep], 16)


def test_the_old_mask_at_position_0_changed_nothing_and_the_new_one_does(controlled):
    """GPT2LMHeadModel shifts labels inside its loss: the label at position 0 is never a target."""
    model, tokenizer, ids = controlled
    sep = tokenizer.sep_token_id
    old = torch.tensor([[ids["[POS]"], *tokenizer("质量很好", add_special_tokens=False)["input_ids"], sep]])
    masked_first = old.clone()
    masked_first[0, 0] = -100
    assert model(input_ids=old, labels=old).loss == model(input_ids=old, labels=masked_first).loss
    example = control_example("质量很好", "[POS]", tokenizer, [sep], 16)
    inputs, labels = torch.tensor([example["input_ids"]]), torch.tensor([example["labels"]])
    assert model(input_ids=inputs, labels=labels).loss != model(input_ids=inputs, labels=inputs).loss


def test_collator_keeps_the_mask_that_the_language_modeling_collator_loses(controlled):
    _, tokenizer, _ = controlled
    sep = tokenizer.sep_token_id
    examples = [control_example(text, "[POS]", tokenizer, [sep], 16) for text in ("很好", "非常非常好")]
    batch = collator(tokenizer)(examples)
    assert batch["labels"][0].tolist()[:2] == [-100, -100] and batch["labels"][0].tolist()[-1] == -100  # padded
    assert batch["attention_mask"][0].tolist()[-1] == 0
    same_length = [control_example(text, "[POS]", tokenizer, [sep], 16) for text in ("很好", "不错")]
    rebuilt = DataCollatorForLanguageModeling(tokenizer, mlm=False)(same_length)
    assert rebuilt["labels"][0, 1] != -100  # labels rebuilt from input_ids: the control token became a target


def test_perplexity_scores_only_labelled_positions(controlled):
    model, tokenizer, _ = controlled
    sep = tokenizer.sep_token_id
    examples = Dataset.from_list([control_example(t, "[NEG]", tokenizer, [sep], 16) for t in ("太差了", "不推荐这家")])
    losses, counts = [], []
    for row in examples:
        labels = torch.tensor([row["labels"]])
        losses.append(model(input_ids=torch.tensor([row["input_ids"]]), labels=labels).loss.item())
        counts.append(int((labels[:, 1:] != -100).sum()))
    expected = math.exp(sum(l * c for l, c in zip(losses, counts)) / sum(counts))
    assert perplexity(model, examples, tokenizer, batch_size=2) == pytest.approx(expected, rel=1e-5)
    assert perplexity(model, examples, tokenizer, batch_size=1) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="every label is -100"):
        perplexity(model, Dataset.from_list([{"input_ids": [sep, sep], "labels": [-100, -100]}]), tokenizer)


def test_encode_reviews_puts_each_label_s_token_first(controlled):
    _, tokenizer, ids = controlled
    reviews = Dataset.from_dict({"text": ["很好", "很差"], "label": [1, 0]})
    encoded = encode_reviews(reviews, tokenizer, [tokenizer.sep_token_id], 16)
    assert [row[1] for row in encoded["input_ids"]] == [ids[CONTROL_TOKENS[1]], ids[CONTROL_TOKENS[0]]]
    plain = encode_reviews(reviews, tokenizer, [tokenizer.sep_token_id], 16, controls=None)
    assert all(ids["[POS]"] not in row and ids["[NEG]"] not in row for row in plain["input_ids"])


def test_replay_mixes_plain_news_examples(tokenizer):
    assert replay_count(800, 0.2) == 200 and replay_count(800, 0.0) == 0
    with pytest.raises(ValueError):
        replay_count(800, 1.0)
    news = ["本报北京一月五日电", "新华社消息", ""]
    replay = replay_examples(news, 5, tokenizer, [tokenizer.sep_token_id], 8, seed=0)
    assert len(replay) == 5 and replay["input_ids"] == replay_examples(news, 5, tokenizer, [tokenizer.sep_token_id],
                                                                        8, seed=0)["input_ids"]
    assert all(len(ids) <= 8 and ids[0] == tokenizer.sep_token_id for ids in replay["input_ids"])
    with pytest.raises(ValueError, match="non-empty"):
        replay_examples([""], 2, tokenizer, [0], 8)


def test_generate_texts_same_seed_same_samples_and_no_special_tokens(controlled):
    model, tokenizer, ids = controlled
    prompt = [tokenizer.sep_token_id, ids["[POS]"]]
    first = generate_texts(model, tokenizer, prompt, 3, max_new_tokens=6, seed=1, top_p=0.9, top_k=0)
    assert first == generate_texts(model, tokenizer, prompt, 3, max_new_tokens=6, seed=1, top_p=0.9, top_k=0)
    assert len(first) == 3 and all(isinstance(t, str) and "[" not in t for t in first)
    with pytest.raises(ValueError):
        generate_texts(model, tokenizer, [], 3, max_new_tokens=6)


def test_guidance_samples_from_the_guided_distribution(controlled):
    """With top_k=1 the first new token is the argmax of log p(.|neg) + g * (log p(.|prompt) - log p(.|neg))."""
    from helpers.control_codes import suppressed_ids

    model, tokenizer, ids = controlled
    prompt, negative = [tokenizer.sep_token_id, ids["[POS]"]], [tokenizer.sep_token_id, ids["[NEG]"]]
    with torch.no_grad():
        cond = torch.log_softmax(model(torch.tensor([prompt])).logits[0, -1], -1)
        uncond = torch.log_softmax(model(torch.tensor([negative])).logits[0, -1], -1)
    for scale in (3.0, -2.0):
        guided = uncond + scale * (cond - uncond)
        guided[[i for (i,) in suppressed_ids(tokenizer)]] = -math.inf
        expected = int(guided.argmax())
        assert expected != tokenizer.sep_token_id  # (else the sample would be empty and prove nothing)
        texts = generate_texts(model, tokenizer, prompt, 3, max_new_tokens=1, batch_size=2, top_k=1,
                               guidance_scale=scale, negative_prompt_ids=negative)
        assert texts == [tokenizer.decode([expected])] * 3
    plain = generate_texts(model, tokenizer, prompt, 1, max_new_tokens=1, top_k=1)
    cond[[i for (i,) in suppressed_ids(tokenizer)]] = -math.inf
    assert plain == [tokenizer.decode([int(cond.argmax())])]
    with pytest.raises(ValueError, match="guidance_scale"):
        generate_texts(model, tokenizer, prompt, 1, max_new_tokens=1, negative_prompt_ids=negative)
    with pytest.raises(ValueError, match="at least one id"):
        generate_texts(model, tokenizer, prompt, 1, max_new_tokens=1, negative_prompt_ids=[], guidance_scale=2.0)


def test_per_class_accuracy_and_share_positive():
    assert per_class_accuracy([0, 0, 1, 1], [0, 1, 1, 1]) == {"negative": 0.5, "positive": 1.0}
    assert share_positive([1, 0, 1, 1]) == 0.75
    with pytest.raises(ValueError):
        per_class_accuracy([0, 1], [0])
    with pytest.raises(ValueError):
        share_positive([])


def test_interpolate_weights_moves_between_start_and_fine_tuned(controlled):
    model, _, _ = controlled
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    tuned = {k: v.clone() for k, v in model.state_dict().items()}
    interpolate_weights(model, start, 0.25)
    name = "transformer.h.0.mlp.c_fc.weight"
    assert torch.allclose(model.state_dict()[name], start[name] + 0.25 * (tuned[name] - start[name]))
    with pytest.raises(ValueError):
        interpolate_weights(model, start, 1.5)
