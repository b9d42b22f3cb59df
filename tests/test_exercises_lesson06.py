import pytest

from helpers.exercises import check
from lesson_sources import exercise_namespace, failure


@pytest.fixture(scope="module")
def solved():
    return exercise_namespace("06_gpt_finetuning")


@pytest.fixture(scope="module")
def stubs():
    return exercise_namespace("06_gpt_finetuning", "notebooks")


@pytest.mark.parametrize("exercise_id,name", [("06.1", "control_example"), ("06.2", "distinct_2"),
                                              ("06.3", "copies_training")])
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    assert not check(exercise_id, stubs[name]).attempted




def control_last(text, label, tokenizer, max_length):
    body = tokenizer(text, add_special_tokens=False)["input_ids"][: max_length - 2]
    return body + [tokenizer.convert_tokens_to_ids("[POS]" if label else "[NEG]"), tokenizer.sep_token_id]


def no_sep(text, label, tokenizer, max_length):
    return [tokenizer.convert_tokens_to_ids("[POS]" if label else "[NEG]")] + \
        tokenizer(text, add_special_tokens=False)["input_ids"][: max_length - 1]


def no_truncation(text, label, tokenizer, max_length):
    return [tokenizer.convert_tokens_to_ids("[POS]" if label else "[NEG]")] + \
        tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]


def per_text_average(texts):
    scores = []
    for text in texts:
        grams = [text[i : i + 2] for i in range(len(text) - 1)]
        if grams:
            scores.append(len(set(grams)) / len(grams))
    return sum(scores) / len(scores)


def whole_text_only(text, training_text, window):
    return text in training_text


def misses_last_window(text, training_text, window):
    return any(text[i : i + window] in training_text for i in range(len(text) - window))


@pytest.mark.parametrize("exercise_id,wrong,message", [
    ("06.1", control_last, "first id"),
    ("06.1", no_sep, "[SEP]"),
    ("06.1", no_truncation, "truncate"),
    ("06.2", per_text_average, "averaged per text"),
    ("06.2", lambda texts: "high", "return a number"),
    ("06.3", whole_text_only, "expected True"),
    ("06.3", misses_last_window, "inclusive"),
    ("06.3", lambda text, training_text, window: 1, "True or False"),
])
def test_wrong_answers(exercise_id, wrong, message):
    assert message in failure(exercise_id, wrong)
