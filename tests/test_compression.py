"""Compression helpers: int8 quantization (saved and reloaded as safetensors), pruning, head removal, distillation."""

import copy
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import BertForSequenceClassification

from helpers import compression as C
from helpers.classification import FineTuneSettings, tokenize_dataset
from helpers.data import head, load_reviews
from helpers.models import bert_config, load_pretrained, load_tokenizer
from helpers.profiles import get_profile


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BertForSequenceClassification(bert_config(get_profile("cpu"), num_labels=2)).eval()  # course-bert's shape


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 5000, (3, 24), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 17:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def logits(model, batch):
    with torch.no_grad():
        return model(**batch).logits


def test_int8_halves_the_file_and_keeps_the_logits_close(model, batch):
    quantized = C.quantize_int8(model)
    assert isinstance(model.bert.encoder.layer[0].attention.self.query, torch.nn.Linear)  # original untouched
    fp32, int8 = C.size_on_disk(model), C.size_on_disk(quantized)
    assert fp32 == pytest.approx(4 * C.parameter_count(model), rel=0.01)
    assert fp32 / int8 > 2.0
    assert C.parameter_count(quantized) == C.parameter_count(model)
    assert (logits(quantized, batch) - logits(model, batch)).abs().max() < 0.05


def test_int8_round_trips_through_safetensors(model, batch, tmp_path):
    quantized = C.quantize_int8(model)
    size = C.save_int8(quantized, tmp_path / "int8.safetensors")
    assert size == C.size_on_disk(quantized)
    fresh = BertForSequenceClassification(model.config).eval()  # other random weights: all must be replaced
    reloaded = C.load_int8(fresh, tmp_path / "int8.safetensors")
    assert torch.equal(logits(reloaded, batch), logits(quantized, batch))


def test_int8_save_and_load_refuse_the_wrong_files(model, tmp_path):
    with pytest.raises(ValueError, match="quantize_int8"):
        C.save_int8(model, tmp_path / "float.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="no int8 weights"):
        C.load_int8(model, tmp_path / "other.safetensors")


def test_magnitude_pruning_zeroes_the_smallest_weights_of_a_copy(model):
    pruned = C.magnitude_prune(model, 0.6)
    assert C.sparsity(pruned) == pytest.approx(0.6, abs=1e-3)
    assert C.sparsity(model) < 0.01
    weight = pruned.bert.encoder.layer[0].intermediate.dense.weight
    original = model.bert.encoder.layer[0].intermediate.dense.weight
    kept = weight != 0
    assert torch.equal(weight[kept], original[kept])
    assert original[~kept].abs().max() <= original[kept].abs().min()  # one global magnitude threshold
    assert not any(name.endswith("_orig") for name, _ in pruned.named_parameters())  # made permanent
    assert C.size_on_disk(pruned) == C.size_on_disk(model)  # zeros in a dense tensor take the same space


@pytest.mark.parametrize("amount", [-0.1, 1.0, "half", True])
def test_pruning_amount_is_checked(model, amount):
    with pytest.raises(ValueError, match="amount"):
        C.magnitude_prune(model, amount)


def test_removing_heads_equals_silencing_them(model, batch):
    heads = {0: [1, 3], 2: [0]}
    removed = C.remove_heads(copy.deepcopy(model), heads)
    silenced = copy.deepcopy(model)
    size = model.config.hidden_size // model.config.num_attention_heads
    with torch.no_grad():
        for layer, drop in heads.items():
            value = silenced.bert.encoder.layer[layer].attention.self.value
            for h in drop:  # a head whose values are zero adds nothing to the output projection
                value.weight[h * size:(h + 1) * size] = 0
                value.bias[h * size:(h + 1) * size] = 0
    assert torch.allclose(logits(removed, batch), logits(silenced, batch), atol=1e-5)
    assert C.heads_left(removed) == [[0, 2], [0, 1, 2, 3], [1, 2, 3], [0, 1, 2, 3]]
    assert removed.bert.encoder.layer[0].attention.self.query.out_features == 2 * size
    assert removed.bert.encoder.layer[0].attention.output.dense.in_features == 2 * size
    freed = C.parameter_count(model) - C.parameter_count(removed)
    assert freed == 3 * (3 * (256 * size + size) + 256 * size)  # 3 heads: q, k, v rows and biases, output columns


def test_head_indices_stay_the_original_ones_after_a_first_removal(model, batch):
    once = C.remove_heads(copy.deepcopy(model), {1: [0, 2]})
    twice = C.remove_heads(once, {1: [3]})
    direct = C.remove_heads(copy.deepcopy(model), {1: [0, 2, 3]})
    assert C.heads_left(twice)[1] == [1]
    assert torch.allclose(logits(twice, batch), logits(direct, batch), atol=1e-6)


@pytest.mark.parametrize("heads,message", [
    ({0: [0, 1, 2, 3]}, "keep at least one"),
    ({0: [7]}, "cannot remove heads"),
    ({9: [0]}, "layer must be"),
    ([0, 1], "must map a layer"),
])
def test_bad_head_requests_are_refused(model, heads, message):
    with pytest.raises((ValueError, TypeError), match=message):
        C.remove_heads(copy.deepcopy(model), heads)


def test_least_important_heads_never_empties_a_layer():
    importance = np.array([[0.1, 0.2], [0.0, 0.05], [0.3, 0.01]])
    assert C.least_important_heads(importance, 2) == {1: [0], 2: [1]}
    chosen = C.least_important_heads(importance, 3)
    assert all(len(heads) < 2 for heads in chosen.values()) and sum(map(len, chosen.values())) == 3
    with pytest.raises(ValueError, match="each layer keeps a head"):
        C.least_important_heads(importance, 4)


def test_head_importance_scores_every_head():
    torch.manual_seed(0)
    profile = get_profile("smoke")
    tokenizer = load_tokenizer("course-bert")
    small = BertForSequenceClassification(bert_config(profile, num_labels=2, num_hidden_layers=2)).eval()
    raw = head(load_reviews()["validation"], 16)
    scores = C.head_importance(small, tokenizer, list(raw["text"]), raw["label"], 32, progress=False)
    assert scores.shape == (2, 2) and np.isfinite(scores).all() and np.abs(scores).sum() > 0
    with pytest.raises(ValueError, match="labels"):
        C.head_importance(small, tokenizer, list(raw["text"]), raw["label"][:3], 32)


def reference_kl(student, teacher, temperature):
    p = torch.softmax(teacher / temperature, -1)
    q = torch.softmax(student / temperature, -1)
    return (p * (p.log() - q.log())).sum(-1).mean() * temperature**2


def test_distillation_loss_matches_the_definition():
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(6, 2, generator=generator), torch.randn(6, 2, generator=generator) * 3
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    for temperature in (1.0, 2.0, 5.0):
        soft = C.distillation_loss(student, teacher, labels, temperature, alpha=1.0)
        assert torch.allclose(soft, reference_kl(student, teacher, temperature), atol=1e-6)
    assert torch.allclose(C.distillation_loss(student, teacher, labels, 2.0, 0.0), F.cross_entropy(student, labels))
    mixed = C.distillation_loss(student, teacher, labels, 3.0, 0.25)
    assert torch.allclose(mixed, 0.25 * reference_kl(student, teacher, 3.0) + 0.75 * F.cross_entropy(student, labels))
    assert C.distillation_loss(teacher, teacher, None, 2.0).abs() < 1e-6  # a perfect copy costs nothing


def test_unlabelled_rows_count_only_in_the_soft_term():
    generator = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(6, 2, generator=generator), torch.randn(6, 2, generator=generator) * 3
    labels = torch.tensor([0, 1, C.IGNORE_LABEL, 0, C.IGNORE_LABEL, 1])
    labelled = labels != C.IGNORE_LABEL
    got = C.distillation_loss(student, teacher, labels, 2.0, 0.5)
    expected = 0.5 * reference_kl(student, teacher, 2.0) + 0.5 * F.cross_entropy(student[labelled], labels[labelled])
    assert torch.allclose(got, expected, atol=1e-6)
    none = torch.full((6,), C.IGNORE_LABEL)
    assert torch.allclose(C.distillation_loss(student, teacher, none, 2.0, 0.5), 0.5 * reference_kl(student, teacher, 2.0))


def test_transfer_set_adds_other_training_reviews_without_their_labels():
    from helpers.classification import balanced_subset

    train = load_reviews()["train"]
    labelled = balanced_subset(train, 40)
    transfer = C.with_transfer_set(labelled, train, size=25, seed=0)
    assert len(transfer) == 65 and transfer["label"][:40] == list(labelled["label"])
    assert transfer["text"][:40] == list(labelled["text"])
    assert set(transfer["label"][40:]) == {C.IGNORE_LABEL}
    assert not set(transfer["text"][40:]) & set(labelled["text"]) and set(transfer["text"][40:]) <= set(train["text"])
    assert len(C.with_transfer_set(labelled, head(train, 100), size=None)) >= 100  # None: every other row
    with pytest.raises(ValueError, match="text"):
        C.with_transfer_set(labelled.remove_columns("text"), train)


def test_t_squared_keeps_the_soft_gradient_on_one_scale():
    generator = torch.Generator().manual_seed(0)
    teacher = torch.randn(64, 2, generator=generator)
    student_start = teacher + torch.randn(64, 2, generator=generator)
    norms = []
    for temperature in (4.0, 16.0):
        student = student_start.clone().requires_grad_(True)
        C.distillation_loss(student, teacher, None, temperature).backward()
        norms.append(float(student.grad.norm()))
    assert 0.8 < norms[0] / norms[1] < 1.25  # with T²: about the same size at T=4 and T=16
    assert 12 < (norms[0] / 4**2) / (norms[1] / 16**2) < 20  # without it the T=16 gradient would be ~16x smaller


@pytest.mark.parametrize("kwargs,message", [({"temperature": 0}, "temperature"), ({"alpha": 1.5}, "alpha")])
def test_distillation_loss_checks_its_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        C.distillation_loss(torch.zeros(2, 2), torch.zeros(2, 2), **kwargs)
    with pytest.raises(ValueError, match="same shape"):
        C.distillation_loss(torch.zeros(2, 2), torch.zeros(3, 2))


def test_student_starts_from_the_bottom_layers_of_the_checkpoint():
    student = C.student_from_checkpoint("course-bert", 2)
    full = load_pretrained(BertForSequenceClassification, "course-bert", num_labels=2)
    assert student.config.num_hidden_layers == 2 and len(student.bert.encoder.layer) == 2
    for layer in range(2):
        assert torch.equal(student.bert.encoder.layer[layer].output.dense.weight,
                           full.bert.encoder.layer[layer].output.dense.weight)
    with pytest.raises(ValueError, match="num_layers"):
        C.student_from_checkpoint("course-bert", 0)


def test_train_student_runs_both_ways_and_checks_the_teacher_logits():
    profile = get_profile("smoke")
    tokenizer = load_tokenizer("course-bert")
    reviews = load_reviews()
    train = tokenize_dataset(head(reviews["train"], 16), tokenizer, 32)
    validation = tokenize_dataset(head(reviews["validation"], 16), tokenizer, 32)
    settings = FineTuneSettings(epochs=1, batch_size=8, learning_rate=1e-4)
    for teacher in (None, np.random.default_rng(0).normal(size=(16, 2))):
        torch.manual_seed(0)
        student = BertForSequenceClassification(bert_config(profile, num_labels=2))
        result = C.train_student(student, train, validation, tokenizer, settings, teacher, temperature=2.0,
                                 progress=False)
        assert result.best_epoch == 1 and not student.training
    with pytest.raises(ValueError, match="one row per training example"):
        C.train_student(student, train, validation, tokenizer, settings, np.zeros((3, 2)), progress=False)
    unlabelled = tokenize_dataset(C.with_transfer_set(head(reviews["train"], 8), head(reviews["train"], 16)),
                                  tokenizer, 32)
    assert unlabelled["label"].count(C.IGNORE_LABEL) == 8
    result = C.train_student(student, unlabelled, validation, tokenizer, settings,
                             np.random.default_rng(1).normal(size=(16, 2)), progress=False)
    assert result.best_epoch == 1
    with pytest.raises(ValueError, match="need teacher_logits"):
        C.train_student(student, unlabelled, validation, tokenizer, settings, None, progress=False)


def test_encode_and_latency(model):
    tokenizer = load_tokenizer("course-bert")
    batch = C.encode(tokenizer, ["好评", "物流很慢，包装也破了"], 32)
    assert batch["input_ids"].shape[0] == 2
    assert C.latency_ms(C.torch_runner(model), [batch], repeat=2) > 0
    with pytest.raises(ValueError, match="list of texts"):
        C.encode(tokenizer, "一条评论", 32)
    with pytest.raises(ValueError, match="at least one batch"):
        C.latency_ms(C.torch_runner(model), [])


def test_half_precision_support_is_described():
    support = C.half_precision_support()
    assert set(support) == {"bf16", "fp16"} and all(("native" in v) or ("emulated" in v) for v in support.values())


def test_scoring_by_length_gives_the_same_logits_in_the_original_order(model):
    from helpers.classification import predict_logits

    tokenizer = load_tokenizer("course-bert")
    raw = head(load_reviews()["test"], 40)
    expected = predict_logits(model, tokenize_dataset(raw, tokenizer, 64), tokenizer, batch_size=7)
    got = C.logits_by_length(C.torch_runner(model), tokenizer, list(raw["text"]), 64, batch_size=8)
    assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-4
    with pytest.raises(ValueError, match="non-empty list"):
        C.logits_by_length(C.torch_runner(model), tokenizer, [], 64)


def test_latency_table_times_every_runner_on_every_set():
    calls = []

    def runner(name, seconds):
        def run(batch):
            calls.append(name)
            time.sleep(seconds)
        return run

    table = C.latency_table({"slow": runner("slow", 0.004), "fast": runner("fast", 0.001)},
                            {"one": [{}], "two": [{}, {}]}, repeat=3, warmup=1)
    assert set(table) == {"slow", "fast"} and set(table["slow"]) == {"one", "two"}
    assert table["slow"]["one"] > table["fast"]["one"] and table["slow"]["two"] >= 3.5
    assert calls[:3] == ["slow", "slow", "slow"] and calls[3:6] == ["fast"] * 3  # interleaved, round by round
    assert len(calls) == 4 * 2 * 3
    with pytest.raises(ValueError, match="repeat"):
        C.latency_table({"x": runner("x", 0)}, {"one": []})


def test_student_from_teacher_keeps_the_chosen_layers_and_the_head(model, batch):
    student = C.student_from_teacher(model, (0, 2))
    assert student.config.num_hidden_layers == 2 and model.config.num_hidden_layers == 4
    assert torch.equal(student.bert.encoder.layer[1].attention.self.query.weight,
                       model.bert.encoder.layer[2].attention.self.query.weight)
    assert torch.equal(student.classifier.weight, model.classifier.weight)
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, model.bert.embeddings.word_embeddings.weight)
    full = C.student_from_teacher(model, range(4)).eval()
    assert torch.allclose(logits(full, batch), logits(model, batch), atol=1e-6)  # all layers: the same model
    for bad in ([], [4], ["0"]):
        with pytest.raises(ValueError, match="layers"):
            C.student_from_teacher(model, bad)
