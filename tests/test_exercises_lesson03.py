import pytest
from peft import LoraConfig, TaskType

from helpers.exercises import check
from lesson_sources import exercise_namespace, failure


@pytest.fixture(scope="module")
def solved():
    return exercise_namespace("03_finetuning_strategies")


@pytest.fixture(scope="module")
def stubs():
    return exercise_namespace("03_finetuning_strategies", "notebooks")


@pytest.mark.parametrize("exercise_id,name", [("03.1", "count_parameters"), ("03.2", "freeze_bottom"),
                                              ("03.3", "make_lora_config")])
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    assert not check(exercise_id, stubs[name]).attempted




@pytest.mark.parametrize("wrong,message", [
    (lambda m: (sum(1 for p in m.parameters() if p.requires_grad), len(list(m.parameters()))), "tensors"),
    (lambda m: (sum(p.numel() for p in m.parameters()), sum(p.numel() for p in m.parameters())), "requires_grad"),
    (lambda m: [1, 2], "tuple of two ints"),
])
def test_count_wrong_answers(wrong, message):
    assert message in failure("03.1", wrong)


def freeze_top(model, k):
    for layer in model.bert.encoder.layer[len(model.bert.encoder.layer) - k:]:
        for p in layer.parameters():
            p.requires_grad = False
    return model


def forget_embeddings(model, k):
    for layer in model.bert.encoder.layer[:k]:
        for p in layer.parameters():
            p.requires_grad = False


def freeze_everything(model, k):
    for p in model.parameters():
        p.requires_grad = False


@pytest.mark.parametrize("wrong,message", [
    (freeze_top, "TOP layers"),
    (forget_embeddings, "embeddings are still trainable"),
    (freeze_everything, "frozen layers are [0, 1, 2]"),
])
def test_freeze_wrong_answers(wrong, message):
    assert message in failure("03.2", wrong)


@pytest.mark.parametrize("wrong,message", [
    (lambda: LoraConfig(task_type=TaskType.SEQ_CLS, r=8, target_modules=["intermediate.dense", "output.dense"]),
     "attention projections"),
    (lambda: LoraConfig(r=8, target_modules=["query", "value"]), "SEQ_CLS"),
    (lambda: LoraConfig(task_type=TaskType.SEQ_CLS, r=256, target_modules=["query", "value"]), "LOW rank"),
    (lambda: {"r": 8}, "peft.LoraConfig"),
])
def test_lora_wrong_answers(wrong, message):
    assert message in failure("03.3", wrong)
