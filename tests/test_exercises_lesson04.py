import random

import pytest
import torch

from helpers.exercises import check
from lesson_sources import exercise_namespace, failure


@pytest.fixture(scope="module")
def solved():
    return exercise_namespace("04_overfitting")


@pytest.fixture(scope="module")
def stubs():
    return exercise_namespace("04_overfitting", "notebooks")


def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs):
    assert check("04.1", solved["EarlyStopping"]).passed
    assert check("04.2", solved["augment"]).passed
    assert check("04.3", (solved["fgm_attack"], solved["fgm_restore"])).passed
    assert not check("04.1", stubs["EarlyStopping"]).attempted
    assert not check("04.2", stubs["augment"]).attempted
    assert not check("04.3", (stubs["fgm_attack"], stubs["fgm_restore"])).attempted




class StopsAtFirstBadEpoch:
    def __init__(self, patience):
        self.best_loss, self.best_epoch, self.epoch = float("inf"), None, 0

    def update(self, loss):
        self.epoch += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epoch
            return False
        return True


class EqualCountsAsBetter:
    def __init__(self, patience):
        self.patience, self.best_loss, self.best_epoch, self.epoch = patience, float("inf"), None, 0

    def update(self, loss):
        self.epoch += 1
        if loss <= self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epoch
        return self.epoch - self.best_epoch >= self.patience


class ZeroBasedEpochs(EqualCountsAsBetter):
    def update(self, loss):
        self.epoch += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epoch - 1
        return self.epoch - 1 - self.best_epoch >= self.patience


@pytest.mark.parametrize("wrong,message", [
    (StopsAtFirstBadEpoch, "epoch(s) in a row"),
    (EqualCountsAsBetter, "equal loss is not an improvement"),
    (ZeroBasedEpochs, "epochs count from 1"),
    (lambda patience: None, "class EarlyStopping itself"),
])
def test_early_stopping_wrong_answers(wrong, message):
    assert message in failure("04.1", wrong)


def unseeded(text, rate, seed):
    chars = list(text)
    if rate == 0:
        return text
    random.shuffle(chars)
    return "".join(chars)


def foreign_characters(text, rate, seed):
    if rate == 0:
        return text
    chars = list(text)
    chars[random.Random(seed).randrange(len(chars))] = "😊"  # replaces with a character from outside the text
    return "".join(chars)


def no_op(text, rate, seed):
    return text


def too_many_edits(text, rate, seed):
    rng = random.Random(seed)
    return text if rate == 0 else "".join(rng.choice(text) for _ in range(len(text) * 2))


@pytest.mark.parametrize("wrong,message", [
    (unseeded, "same seed"),
    (foreign_characters, "not in the text"),
    (no_op, "only 1 different variants"),
    (too_many_edits, "at most"),
    (lambda text, rate, seed: list(text), "return a str"),
])
def test_augment_wrong_answers(wrong, message):
    assert message in failure("04.2", wrong)


def attack_without_norm(model, epsilon):
    weight = model.bert.embeddings.word_embeddings.weight
    backup = weight.detach().clone()
    with torch.no_grad():
        weight.add_(epsilon * weight.grad)
    return backup


def attack_wrong_direction(model, epsilon):
    weight = model.bert.embeddings.word_embeddings.weight
    backup = weight.detach().clone()
    with torch.no_grad():
        weight.sub_(epsilon * weight.grad / torch.linalg.vector_norm(weight.grad))
    return backup


def restore_nothing(model, backup):
    return None


def test_fgm_wrong_answers(solved):
    assert "norm" in failure("04.3", (attack_without_norm, solved["fgm_restore"]))
    assert "points away" in failure("04.3", (attack_wrong_direction, solved["fgm_restore"]))
    assert "after restore" in failure("04.3", (solved["fgm_attack"], restore_nothing))
    assert "tuple of your two functions" in failure("04.3", solved["fgm_attack"])
