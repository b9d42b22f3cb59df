import pytest
import torch

from helpers.exercises import check
from lesson_sources import exercise_namespace, failure


@pytest.fixture(scope="module")
def solved():
    return exercise_namespace("05_gpt_generation")


@pytest.fixture(scope="module")
def stubs():
    return exercise_namespace("05_gpt_generation", "notebooks")


@pytest.mark.parametrize("exercise_id,name", [("05.1", "top_k_filter"), ("05.2", "top_p_filter"),
                                              ("05.3", "apply_temperature"), ("05.4", "greedy_generate")])
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    assert not check(exercise_id, stubs[name]).attempted




def top_k_drops_ties(logits, k):
    order = torch.argsort(logits, dim=-1, descending=True)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order[..., :k], True)
    return logits.masked_fill(~keep, float("-inf"))


def top_k_probabilities(logits, k):
    return torch.softmax(top_k_drops_ties(logits, k), -1)


def top_p_without_crossing_token(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    cumulative = torch.softmax(sorted_logits, -1).cumsum(-1)
    remove = cumulative > p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def top_p_on_logits_not_probabilities(logits, p):
    return logits.masked_fill(logits < p, float("-inf"))


@pytest.mark.parametrize("exercise_id,wrong,message", [
    ("05.1", top_k_drops_ties, "including ties"),
    ("05.1", top_k_probabilities, "returned probabilities"),
    ("05.1", lambda logits, k: top_k_drops_ties(logits, k) * 2, "kept logits changed"),
    ("05.1", lambda logits, k: logits.tolist(), "return a tensor"),
    ("05.2", top_p_without_crossing_token, "crosses p is kept"),
    ("05.2", top_p_on_logits_not_probabilities, "cumulative probability"),
    ("05.3", lambda logits, t: logits * t, "sharper"),
    ("05.3", lambda logits, t: logits.div_(t), "in place"),
])
def test_sampling_wrong_answers(exercise_id, wrong, message):
    assert message in failure(exercise_id, wrong)


def greedy_first_position(model, input_ids, max_new_tokens):
    ids = input_ids
    with torch.no_grad():
        for _ in range(max_new_tokens):
            ids = torch.cat([ids, model(ids).logits[:, 0].argmax(-1, keepdim=True)], dim=-1)
    return ids


def new_tokens_only(model, input_ids, max_new_tokens):
    from lesson_sources import exercise_namespace as ns

    return ns("05_gpt_generation")["greedy_generate"](model, input_ids, max_new_tokens)[:, input_ids.shape[1]:]


@pytest.mark.parametrize("wrong,message", [
    (greedy_first_position, "LAST position"),
    (new_tokens_only, "prompt followed by"),
    (lambda model, ids, n: ids.tolist(), "return a tensor"),
])
def test_greedy_wrong_answers(wrong, message):
    assert message in failure("05.4", wrong)
