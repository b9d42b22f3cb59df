import pytest
import torch
from transformers import BertForSequenceClassification

from helpers.models import bert_config
from helpers.profiles import get_profile
from helpers.finetune_strategies import (
    PEFT_METHODS,
    freeze_bottom_layers,
    freeze_encoder,
    layerwise_lr_groups,
    peft_model,
    saved_size,
)
from helpers.training import count_parameters as trainable_parameters


def tiny():
    torch.manual_seed(0)
    return BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2, num_hidden_layers=3))


def test_freeze_encoder_leaves_only_the_head():
    model = freeze_encoder(tiny())
    names = {n.split(".")[1] if n.startswith("bert.") else n.split(".")[0]
             for n, p in model.named_parameters() if p.requires_grad}
    assert names == {"pooler", "classifier"}


def test_freeze_bottom_layers():
    model = freeze_bottom_layers(tiny(), 2)
    frozen = [i for i, layer in enumerate(model.bert.encoder.layer) if not any(p.requires_grad for p in layer.parameters())]
    assert frozen == [0, 1]
    assert not any(p.requires_grad for p in model.bert.embeddings.parameters())
    assert trainable_parameters(freeze_bottom_layers(tiny(), 0)) == trainable_parameters(tiny())
    with pytest.raises(ValueError, match="between 0 and 3"):
        freeze_bottom_layers(tiny(), 4)
    with pytest.raises(TypeError, match="BertForSequenceClassification"):
        freeze_bottom_layers(torch.nn.Linear(2, 2), 1)


def test_layerwise_learning_rates_decay_downwards():
    model = tiny()
    groups = layerwise_lr_groups(model, 1e-3, 0.5)
    rates = [group["lr"] for group in groups]
    assert rates == sorted(rates) and rates[-1] == 1e-3 and rates[0] == pytest.approx(1e-3 * 0.5**3)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    # the same weight-decay rule as every other run: matrices decay, biases and LayerNorm do not
    assert all((p.ndim >= 2) == (g["weight_decay"] > 0) for g in layerwise_lr_groups(model, 1e-3, 0.5, 0.01)
               for p in g["params"])
    with pytest.raises(ValueError, match="decay"):
        layerwise_lr_groups(model, 1e-3, 0)


@pytest.mark.parametrize("method", PEFT_METHODS)
def test_peft_methods_train_few_parameters_and_save_small(method):
    model = peft_model(tiny(), method, total_steps=10)
    trainable, total = trainable_parameters(model)
    assert 0 < trainable < total
    trainable_names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("classifier" in n for n in trainable_names) and any("pooler" in n for n in trainable_names)
    batch = {"input_ids": torch.randint(5, 100, (2, 8)), "attention_mask": torch.ones(2, 8, dtype=torch.long),
             "labels": torch.tensor([0, 1])}
    model(**batch).loss.backward()
    assert saved_size(model) < saved_size(tiny())


def test_unknown_peft_method():
    with pytest.raises(ValueError, match="unknown PEFT method"):
        peft_model(tiny(), "adapter")
