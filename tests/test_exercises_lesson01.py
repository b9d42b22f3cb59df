import pytest
import torch
import torch.nn.functional as F

from helpers.exercises import check
from lesson_sources import exercise_namespace, failure


@pytest.fixture(scope="module")
def solved():
    return exercise_namespace("01_pretraining")


@pytest.fixture(scope="module")
def stubs():
    return exercise_namespace("01_pretraining", "notebooks")


@pytest.mark.parametrize("exercise_id,name", [("01.1", "mask_tokens"), ("01.2", "next_token_loss"), ("01.3", "pack")])
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    result = check(exercise_id, stubs[name])
    assert not result.attempted and not result.passed




# ---- 01.1 masking: wrong answers a learner plausibly writes ----
def mask_everything_selected(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    inputs = input_ids.clone()
    special = torch.isin(inputs, torch.as_tensor(list(special_ids)))
    selected = torch.bernoulli(torch.full(inputs.shape, mlm_probability), generator=generator).bool() & ~special
    labels = torch.where(selected, inputs, torch.full_like(inputs, -100))
    inputs[selected] = mask_id  # 100% [MASK], no random / unchanged
    return inputs, labels


def selects_specials(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    inputs = input_ids.clone()
    selected = torch.bernoulli(torch.full(inputs.shape, mlm_probability), generator=generator).bool()
    labels = torch.where(selected, inputs, torch.full_like(inputs, -100))
    inputs[selected] = mask_id
    return inputs, labels


def labels_everywhere(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    inputs, _ = mask_everything_selected(input_ids, special_ids, mask_id, vocab_size, mlm_probability, generator)
    return inputs, input_ids.clone()


def in_place(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    inputs, labels = mask_everything_selected(input_ids, special_ids, mask_id, vocab_size, mlm_probability, generator)
    input_ids[labels != -100] = mask_id
    return inputs, labels


def unseeded(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    from helpers.pretraining import mask_tokens

    return mask_tokens(input_ids, special_ids, mask_id, vocab_size, mlm_probability, None)


def fixed_rate(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    from helpers.pretraining import mask_tokens

    return mask_tokens(input_ids, special_ids, mask_id, vocab_size, 0.15, generator)


@pytest.mark.parametrize("wrong,message", [
    (mask_everything_selected, "became [MASK]"),
    (selects_specials, "was selected"),
    (labels_everywhere, "must be -100 wherever"),
    (in_place, "in place"),
    (unseeded, "same generator seed"),
    (fixed_rate, "mlm_probability=0.3"),
    (lambda *args: args[0], "return a tuple"),
])
def test_masking_wrong_answers(wrong, message):
    assert message in failure("01.1", wrong)


# ---- 01.2 next-token loss ----
@pytest.mark.parametrize("wrong,message", [
    (lambda logits, ids: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1)), "copying"),
    (lambda logits, ids: F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                         reduction="sum"), "SUM"),
    (lambda logits, ids: F.cross_entropy(logits[:, 1:].reshape(-1, logits.shape[-1]), ids[:, :-1].reshape(-1)),
     "wrong way"),
    (lambda logits, ids: 1.0, "single-number tensor"),
])
def test_next_token_loss_wrong_answers(wrong, message):
    assert message in failure("01.2", wrong)


def test_next_token_loss_matches_gpt2(solved):
    from transformers import GPT2LMHeadModel

    from helpers.models import gpt_config
    from helpers.profiles import get_profile

    torch.manual_seed(0)
    model = GPT2LMHeadModel(gpt_config(get_profile("smoke"))).eval()
    ids = torch.randint(5, 500, (2, 16))
    with torch.no_grad():
        output = model(ids, labels=ids)
    assert torch.allclose(solved["next_token_loss"](output.logits, ids), output.loss, atol=1e-5)


# ---- 01.3 packing ----
def keeps_tail(token_lists, block_size, sep_id):
    stream = [t for ids in token_lists for t in (ids + [sep_id] if ids else [])]
    return [stream[i : i + block_size] for i in range(0, len(stream), block_size)]


def no_separator(token_lists, block_size, sep_id):
    stream = [t for ids in token_lists for t in ids]
    return [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]


@pytest.mark.parametrize("wrong,message", [
    (keeps_tail, "incomplete tail"),
    (no_separator, "followed by sep_id"),
    (lambda token_lists, block_size, sep_id: "blocks", "list of blocks"),
])
def test_pack_wrong_answers(wrong, message):
    assert message in failure("01.3", wrong)


def test_pack_agrees_with_the_helper(solved):
    from helpers.pretraining import pack_blocks
    from helpers.tokenization import load_course_tokenizer

    tokenizer = load_course_tokenizer()
    texts = ["今天天气很好", "我们去公园", "散步吧"] * 5
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert solved["pack"](ids, 8, tokenizer.sep_token_id) == pack_blocks(texts, tokenizer, 8, wrap_cls_sep=False).tolist()
