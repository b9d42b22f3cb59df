import pytest

from helpers.exercises import ExerciseFailed, check, list_exercises
from helpers.tokenization import load_course_tokenizer


LESSON = "00_setup_and_tour"  # the conftest fixtures `solved` and `stubs` read this


@pytest.fixture(scope="module")
def solution(solved):
    return solved["unk_characters"]


@pytest.fixture(scope="module")
def stub(stubs):
    return stubs["unk_characters"]


def test_solution_passes(solution, capsys):
    result = check("00.1", solution)
    assert result.passed and result.attempted
    assert "correct" in capsys.readouterr().out


def test_stub_is_not_attempted_and_does_not_raise(stub, capsys):
    result = check("00.1", stub)
    assert not result.passed and not result.attempted
    assert "not attempted" in capsys.readouterr().out


def test_ellipsis_is_not_attempted():
    assert check("00.1", ...).attempted is False


def vocab_lookup(text, tokenizer):  # the classic mistake: ask the vocab dict, not the tokenizer
    vocab = tokenizer.get_vocab()
    found = []
    for char in text:
        if char not in vocab and char not in found and not char.isspace():
            found.append(char)
    return found


def returns_a_set(text, tokenizer):
    return {c for c in text if tokenizer(c, add_special_tokens=False)["input_ids"] == [tokenizer.unk_token_id]}


def misses_rare_characters(text, tokenizer):
    return [c for c in dict.fromkeys(text) if ord(c) > 0xFFFF]  # only emoji


def keeps_duplicates(text, tokenizer):
    return [c for c in text if tokenizer.unk_token_id in tokenizer(c, add_special_tokens=False)["input_ids"]]


def returns_ids(text, tokenizer):
    return [tokenizer.unk_token_id for c in dict.fromkeys(text)
            if tokenizer.unk_token_id in tokenizer(c, add_special_tokens=False)["input_ids"]]


def crashes(text, tokenizer):
    return [text[1000]]  # IndexError: no test text is that long


@pytest.mark.parametrize(
    "wrong,expected_message",
    [
        (vocab_lookup, "ask the tokenizer"),
        (returns_a_set, "returned a set"),
        (misses_rare_characters, "you missed"),
        (keeps_duplicates, "each character once"),
        (returns_ids, "not a single character"),
        (crashes, "raised IndexError"),
        ("unk_characters", "expected the function"),
    ],
)
def test_wrong_answers_get_specific_feedback(wrong, expected_message):
    with pytest.raises(ExerciseFailed) as info:
        check("00.1", wrong)
    assert expected_message in str(info.value)
    assert str(info.value).startswith("Exercise 00.1 (unknown characters)")


def test_failure_renders_without_traceback_in_jupyter():
    rendered = ExerciseFailed("wrong value at position 3")._render_traceback_()
    assert len(rendered) == 1 and "wrong value at position 3" in rendered[0]


@pytest.mark.parametrize("bad_id", ["99.9", None, 1])
def test_unknown_exercise_id(bad_id):
    with pytest.raises(ValueError, match="Known exercises: 00.1"):
        check(bad_id, lambda *a: None)


def test_every_registered_exercise_has_a_solution_in_its_lesson():
    from lesson_sources import ROOT

    sources = {path.stem[:2]: path.read_text(encoding="utf-8") for path in (ROOT / "lessons").glob("*.py")}
    for exercise in list_exercises():
        lesson = exercise.exercise_id.split(".")[0]
        assert f'check("{exercise.exercise_id}"' in sources[lesson], exercise.exercise_id


def test_tokenizer_facts_the_checker_relies_on():
    tokenizer = load_course_tokenizer()
    for char in "龘😊👍":
        assert tokenizer(char, add_special_tokens=False)["input_ids"] == [tokenizer.unk_token_id]
    for char in "Ａ１a":
        assert tokenizer.unk_token_id not in tokenizer(char, add_special_tokens=False)["input_ids"]
