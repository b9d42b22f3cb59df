import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import BertForSequenceClassification

from helpers.classification import (
    FineTuneSettings,
    balanced_subset,
    classification_metrics,
    evaluate_classifier,
    predict_logits,
    tokenize_dataset,
    train_classifier,
)
from helpers.data import load_reviews
from helpers.models import bert_config
from helpers.profiles import get_profile
from helpers.tokenization import load_course_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_course_tokenizer()


def toy(n=48):
    texts = ["很好，推荐", "质量不错，喜欢", "太差了，失望", "很糟糕，不推荐"] * (n // 4)
    return Dataset.from_dict({"text": texts, "label": [1, 1, 0, 0] * (n // 4)})


def test_balanced_subset_is_balanced_and_seeded():
    train = load_reviews()["train"]
    subset = balanced_subset(train, 101, seed=0)
    assert len(subset) == 101 and abs(sum(subset["label"]) - 50.5) <= 0.5
    assert subset["text"] == balanced_subset(train, 101, seed=0)["text"]
    assert subset["text"] != balanced_subset(train, 101, seed=1)["text"]
    with pytest.raises(ValueError, match="n must be"):
        balanced_subset(train, 1)


def test_tokenize_truncates_and_does_not_pad(tokenizer):
    data = Dataset.from_dict({"text": ["好" * 500, "短"], "label": [1, 0]})
    encoded = tokenize_dataset(data, tokenizer, max_length=32)
    assert [len(ids) for ids in encoded["input_ids"]] == [32, 3]
    with pytest.raises(ValueError, match="'text' column"):
        tokenize_dataset(Dataset.from_dict({"sentence": ["x"]}), tokenizer, 8)


def test_metrics_match_hand_computation():
    metrics = classification_metrics([1, 1, 0, 0], [1, 0, 0, 1])
    assert metrics == {"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_training_learns_a_toy_task_and_keeps_the_best_epoch(tokenizer):
    data = tokenize_dataset(toy(), tokenizer, 16)
    torch.manual_seed(0)
    model = BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2))
    result = train_classifier(model, data, data, tokenizer, FineTuneSettings(epochs=4, batch_size=8, learning_rate=3e-3),
                              progress=False)
    assert len(result.history) == 4 and result.best_validation_accuracy == max(
        row["validation_accuracy"] for row in result.history)
    assert evaluate_classifier(model, data, tokenizer)["accuracy"] == result.best_validation_accuracy == 1.0
    logits = predict_logits(model, data, tokenizer, batch_size=5)
    assert logits.shape == (48, 2) and np.isfinite(logits).all()


def test_predict_texts(tokenizer):
    from helpers.classification import predict_texts

    torch.manual_seed(0)
    model = BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2))
    model.train()
    first = predict_texts(["很好", "很差"], model, tokenizer)
    assert first == predict_texts(["很好", "很差"], model, tokenizer)  # eval mode inside: deterministic
    assert all(item["label"] in ("negative", "positive") and 0.5 <= item["probability"] <= 1 for item in first)
    assert predict_texts([], model, tokenizer) == []
    assert len(predict_texts(["好" * 100_000], model, tokenizer, max_length=32)) == 1
    with pytest.raises(TypeError, match="wrap a single review"):
        predict_texts("很好", model, tokenizer)
    with pytest.raises(TypeError, match="must be a str"):
        predict_texts(["很好", None], model, tokenizer)


def test_on_step_hook_sees_the_gradients_of_the_step(tokenizer):
    """AdaLoRA's update_and_allocate reads .grad after optimizer.step(): the loop must not clear them first."""
    data = tokenize_dataset(toy(16), tokenizer, 16)
    torch.manual_seed(0)
    model = BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2))
    seen = []
    train_classifier(model, data, data, tokenizer, FineTuneSettings(epochs=1, batch_size=8), progress=False,
                     on_step=lambda step: seen.append(all(p.grad is not None for p in model.parameters() if p.requires_grad)))
    assert seen == [True, True]
    assert all(p.grad is None for p in model.parameters())  # and they are cleared after the hook


def test_mean_pooling_classifier_ignores_padding_and_has_no_pooler(tokenizer):
    from helpers.classification import MeanPoolingBertForSequenceClassification

    torch.manual_seed(0)
    model = MeanPoolingBertForSequenceClassification(
        bert_config(get_profile("smoke"), num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).eval()
    assert model.bert.pooler is None and not any("pooler" in name for name, _ in model.named_parameters())
    texts = ["很好", "物流太慢了，包装也破了，再也不买"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        together = model(**batch).logits
        alone = model(**tokenizer(texts[:1], return_tensors="pt")).logits
        hidden = model.bert(**tokenizer(texts[:1], return_tensors="pt")).last_hidden_state
        by_hand = model.classifier(hidden.mean(dim=1))
    torch.testing.assert_close(together[:1], alone, atol=1e-5, rtol=1e-5)  # padding changes nothing
    torch.testing.assert_close(alone, by_hand, atol=1e-5, rtol=1e-5)  # the mean of the token vectors
    loss = model(**batch, labels=torch.tensor([1, 0])).loss
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(together, torch.tensor([1, 0])))
