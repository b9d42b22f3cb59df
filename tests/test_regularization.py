import random

import pytest
import torch
from datasets import Dataset
from transformers import BertForSequenceClassification

from helpers.classification import FineTuneSettings, tokenize_dataset, train_classifier
from helpers.models import bert_config
from helpers.profiles import get_profile
from helpers.regularization import FGM, augment_text, perturb_text
from helpers.tokenization import load_course_tokenizer

TEXT = "这本书写得真好，内容丰富，值得推荐给朋友们。"


@pytest.mark.parametrize("function", [augment_text, perturb_text])
def test_rate_zero_and_short_texts_are_unchanged(function):
    assert function(TEXT, 0.0, random.Random(0)) == TEXT
    assert function("好", 0.5, random.Random(0)) == "好"
    assert function("", 0.5, random.Random(0)) == ""


@pytest.mark.parametrize("function", [augment_text, perturb_text])
def test_edits_are_seeded_and_bounded(function):
    first = function(TEXT, 0.2, random.Random(1))
    assert first == function(TEXT, 0.2, random.Random(1)) and first != TEXT
    for seed in range(50):
        out = function(TEXT, 0.2, random.Random(seed))
        assert isinstance(out, str) and out
        assert abs(len(out) - len(TEXT)) <= round(0.2 * len(TEXT)) + 1
        assert set(out) <= set(TEXT)  # only characters of the text itself
    long_text = "好" * 100_000
    assert len(function(long_text, 0.01, random.Random(0))) > 0


@pytest.mark.parametrize("function", [augment_text, perturb_text])
@pytest.mark.parametrize("bad,error", [(None, TypeError), (3, TypeError)])
def test_bad_input(function, bad, error):
    with pytest.raises(error, match="expected a str"):
        function(bad, 0.1, random.Random(0))
    with pytest.raises(ValueError, match="rate"):
        function(TEXT, 1.5, random.Random(0))


def tiny_model():
    torch.manual_seed(0)
    return BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2))


def test_fgm_perturbs_with_the_requested_norm_and_restores():
    model = tiny_model()
    batch = {"input_ids": torch.randint(5, 300, (4, 10)), "labels": torch.tensor([0, 1, 0, 1])}
    model(**batch).loss.backward()
    embeddings = model.bert.embeddings.word_embeddings.weight
    before = embeddings.detach().clone()
    fgm = FGM(model, epsilon=0.5)
    fgm.attack()
    assert torch.linalg.vector_norm(embeddings.detach() - before).item() == pytest.approx(0.5, rel=1e-4)
    fgm.restore()
    assert torch.equal(embeddings.detach(), before)


def test_fgm_needs_trainable_embeddings():
    model = tiny_model()
    model.bert.embeddings.word_embeddings.weight.requires_grad = False
    with pytest.raises(ValueError, match="embeddings to train"):
        FGM(model)
    with pytest.raises(ValueError, match="positive"):
        FGM(tiny_model(), epsilon=0)


def test_regularised_training_options_run_and_early_stopping_stops():
    tokenizer = load_course_tokenizer()
    data = Dataset.from_dict({"text": ["很好，推荐", "太差了，失望"] * 8, "label": [1, 0] * 8})
    data = tokenize_dataset(data, tokenizer, 16)
    flipped = data.map(lambda row: {"label": 1 - row["label"]})  # the better the fit, the worse this gets
    model = tiny_model()
    settings = FineTuneSettings(epochs=6, batch_size=8, learning_rate=3e-3, label_smoothing=0.1,
                                adversarial_epsilon=0.5, patience=1, select_on="loss", track_train=True)
    result = train_classifier(model, data, flipped, tokenizer, settings, progress=False)
    assert {"train_accuracy", "validation_loss"} <= set(result.history[0])
    losses = [row["validation_loss"] for row in result.history]
    assert len(result.history) < 6 and result.best_epoch == losses.index(min(losses)) + 1
    assert len(result.history) == result.best_epoch + 1  # stopped one epoch after the best
    with pytest.raises(ValueError, match="select_on"):
        train_classifier(tiny_model(), data, data, tokenizer, FineTuneSettings(epochs=1, select_on="f1"), progress=False)
