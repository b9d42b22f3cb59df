"""Answers to every exercise for the checker tests: the reference (the lesson's solution), other correct answers
written differently (which must pass), plausible wrong answers (which must fail), and junk (which must fail with
a specific message, never a traceback from inside the checker).

Each wrong answer is a small mutation of the reference that a learner plausibly writes; the comment or the
name says which mistake it stands for.
"""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import torch
import torch.nn.functional as F

from lesson_sources import exercise_namespace

LESSONS = {"00": "00_setup_and_tour", "01": "01_pretraining", "02": "02_bert_classification",
           "03": "03_finetuning_strategies", "04": "04_overfitting", "05": "05_gpt_generation",
           "06": "06_gpt_finetuning"}
ANSWER_NAMES = {"00.1": "unk_characters", "01.1": "mask_tokens", "01.2": "next_token_loss", "01.3": "pack",
                "02.1": "pad_batch", "02.2": "compute_metrics", "02.3": "predict", "03.1": "count_parameters",
                "03.2": "freeze_bottom", "03.3": "make_lora_config", "04.1": "EarlyStopping", "04.2": "augment",
                "04.3": ("fgm_attack", "fgm_restore"), "05.1": "top_k_filter", "05.2": "top_p_filter",
                "05.3": "apply_temperature", "05.4": "greedy_generate", "06.1": "control_example",
                "06.2": "distinct_2", "06.3": "copies_training"}
_NAMESPACES: dict[tuple[str, str], dict] = {}


def lesson_answer(exercise_id: str, target: str = "solutions"):
    """The solution (or the stub) of an exercise, taken from its lesson source."""
    lesson = exercise_id[:2]
    if (lesson, target) not in _NAMESPACES:
        _NAMESPACES[lesson, target] = exercise_namespace(LESSONS[lesson], target)
    namespace, names = _NAMESPACES[lesson, target], ANSWER_NAMES[exercise_id]
    return tuple(namespace[n] for n in names) if isinstance(names, tuple) else namespace[names]


def ref(exercise_id: str):
    return lesson_answer(exercise_id)


# ------------------------------------------------------------------ 00.1
def unk_offsets(text, tokenizer):  # right, another way: offsets of the whole text
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    found = []
    for token, (start, end) in zip(encoded["input_ids"], encoded["offset_mapping"]):
        if token == tokenizer.unk_token_id:
            found += [c for c in dict.fromkeys(text[start:end]) if c not in found]
    return found


def unk_vocab_lookup(text, tokenizer):  # asks the vocab dict, not the tokenizer
    vocab = tokenizer.get_vocab()
    return list(dict.fromkeys(c for c in text if c not in vocab and not c.isspace()))


def unk_nfkc_vocab(text, tokenizer):  # imitates the normaliser by hand, but misses what the tokenizer drops
    vocab = tokenizer.get_vocab()
    return list(dict.fromkeys(c for c in text if not c.isspace()
                              and unicodedata.normalize("NFKC", c).lower() not in vocab))


def unk_zip_tokens(text, tokenizer):  # pairs tokens with characters by position
    tokens = tokenizer.tokenize(text)
    return list(dict.fromkeys(c for c, token in zip(text, tokens) if token == tokenizer.unk_token))


def unk_emoji_only(text, tokenizer):
    return list(dict.fromkeys(c for c in text if ord(c) > 0xFFFF))


def unk_duplicates(text, tokenizer):
    return [c for c in text if tokenizer.unk_token_id in tokenizer(c, add_special_tokens=False)["input_ids"]]


def unk_sorted(text, tokenizer):
    return sorted(ref("00.1")(text, tokenizer))


def unk_as_set(text, tokenizer):
    return set(ref("00.1")(text, tokenizer))


def unk_ids(text, tokenizer):
    return [tokenizer.unk_token_id for _ in ref("00.1")(text, tokenizer)] or [tokenizer.unk_token_id]


# ------------------------------------------------------------------ 01.1
def _select(input_ids, special_ids, probability, generator):
    special = torch.isin(input_ids, torch.as_tensor(list(special_ids)))
    return torch.bernoulli(torch.full(input_ids.shape, probability).masked_fill(special, 0.0),
                           generator=generator).bool()


def mask_exact_count(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    """Right, another way: exactly round(p * n) positions chosen with randperm, one categorical draw for 80/10/10."""
    inputs = input_ids.clone()
    candidates = (~torch.isin(inputs, torch.as_tensor(list(special_ids)))).flatten().nonzero().flatten()
    count = round(mlm_probability * len(candidates))
    chosen = candidates[torch.randperm(len(candidates), generator=generator)[:count]]
    selected = torch.zeros(inputs.numel(), dtype=torch.bool)
    selected[chosen] = True
    selected = selected.view(inputs.shape)
    labels = torch.where(selected, inputs, torch.full_like(inputs, -100))
    kind = torch.rand(inputs.shape, generator=generator)
    inputs[selected & (kind < 0.8)] = mask_id
    randomise = selected & (kind >= 0.8) & (kind < 0.9)
    inputs[randomise] = torch.randint(vocab_size, inputs.shape, generator=generator)[randomise]
    return inputs, labels


def mask_always_mask(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    inputs = input_ids.clone()
    selected = _select(inputs, special_ids, mlm_probability, generator)
    labels = torch.where(selected, inputs, torch.full_like(inputs, -100))
    inputs[selected] = mask_id
    return inputs, labels


def mask_selects_specials(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    return ref("01.1")(input_ids, [], mask_id, vocab_size, mlm_probability, generator)


def mask_labels_everywhere(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    inputs, _ = ref("01.1")(input_ids, special_ids, mask_id, vocab_size, mlm_probability, generator)
    return inputs, input_ids.clone()


def mask_in_place(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    inputs, labels = ref("01.1")(input_ids, special_ids, mask_id, vocab_size, mlm_probability, generator)
    input_ids.copy_(inputs)
    return inputs, labels


def mask_unseeded(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    return ref("01.1")(input_ids, special_ids, mask_id, vocab_size, mlm_probability, None)


def mask_own_seed(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    return ref("01.1")(input_ids, special_ids, mask_id, vocab_size, mlm_probability, torch.Generator().manual_seed(0))


def mask_fixed_rate(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    return ref("01.1")(input_ids, special_ids, mask_id, vocab_size, 0.15, generator)


def mask_swapped_pair(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    inputs, labels = ref("01.1")(input_ids, special_ids, mask_id, vocab_size, mlm_probability, generator)
    return labels, inputs


def mask_narrow_random(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    """Random replacements from ids 5..14 only."""
    inputs = input_ids.clone()
    selected = _select(inputs, special_ids, mlm_probability, generator)
    labels = torch.where(selected, inputs, torch.full_like(inputs, -100))
    to_mask = torch.bernoulli(torch.full(inputs.shape, 0.8), generator=generator).bool() & selected
    to_random = torch.bernoulli(torch.full(inputs.shape, 0.5), generator=generator).bool() & selected & ~to_mask
    inputs[to_mask] = mask_id
    inputs[to_random] = torch.randint(5, 15, inputs.shape, generator=generator)[to_random]
    return inputs, labels


def mask_in_order(input_ids, special_ids, mask_id, vocab_size, mlm_probability=0.15, generator=None):
    """The first 80% of the selected positions (row by row) masked, the next 10% random: not random at all."""
    inputs = input_ids.clone()
    selected = _select(inputs, special_ids, mlm_probability, generator)
    labels = torch.where(selected, inputs, torch.full_like(inputs, -100))
    positions = selected.flatten().nonzero().flatten()
    n = len(positions)
    flat = inputs.view(-1)
    flat[positions[: int(0.8 * n)]] = mask_id
    flat[positions[int(0.8 * n): int(0.9 * n)]] = torch.randint(vocab_size, (int(0.9 * n) - int(0.8 * n),),
                                                                generator=generator)
    return inputs, labels


# ------------------------------------------------------------------ 01.2
def loss_float64(logits, input_ids):  # right: computed in float64
    vocab = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].double().reshape(-1, vocab), input_ids[:, 1:].reshape(-1))


def loss_by_hand(logits, input_ids):  # right: log_softmax and gather, mean per row then over rows
    log_probabilities = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = log_probabilities.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return -picked.mean(dim=1).mean()


def loss_unshifted(logits, input_ids):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), input_ids.reshape(-1))


def loss_sum(logits, input_ids):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1), reduction="sum")


def loss_wrong_way(logits, input_ids):
    return F.cross_entropy(logits[:, 1:].reshape(-1, logits.shape[-1]), input_ids[:, :-1].reshape(-1))


def loss_detached(logits, input_ids):
    return torch.tensor(ref("01.2")(logits, input_ids).item())


def loss_softmax_twice(logits, input_ids):
    return ref("01.2")(torch.softmax(logits, -1), input_ids)


def loss_python_float(logits, input_ids):
    return ref("01.2")(logits, input_ids).item()


# ------------------------------------------------------------------ 01.3
def pack_tensor(token_lists, block_size, sep_id):  # right: a 2-D tensor
    blocks = ref("01.3")(token_lists, block_size, sep_id)
    return torch.tensor(blocks, dtype=torch.long).reshape(len(blocks), block_size)


def pack_keeps_tail(token_lists, block_size, sep_id):
    stream = [t for ids in token_lists if ids for t in ids + [sep_id]]
    return [stream[i : i + block_size] for i in range(0, len(stream), block_size)]


def pack_pads_tail(token_lists, block_size, sep_id):
    blocks = pack_keeps_tail(token_lists, block_size, sep_id)
    return [block + [0] * (block_size - len(block)) for block in blocks]


def pack_no_separator(token_lists, block_size, sep_id):
    stream = [t for ids in token_lists for t in ids]
    return [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]


def pack_separator_first(token_lists, block_size, sep_id):
    stream = [t for ids in token_lists if ids for t in [sep_id] + ids]
    return [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]


def pack_separates_empty(token_lists, block_size, sep_id):
    stream = [t for ids in token_lists for t in ids + [sep_id]]
    return [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]


def pack_per_document(token_lists, block_size, sep_id):
    return [block for ids in token_lists for block in ref("01.3")([ids], block_size, sep_id)]


def pack_sep_three(token_lists, block_size, sep_id):
    return ref("01.3")(token_lists, block_size, 3)


# ------------------------------------------------------------------ 02.1
def pad_bool_mask_int32(examples, pad_id):  # right: other dtypes that hold the same values
    batch = ref("02.1")(examples, pad_id)
    return {"input_ids": batch["input_ids"].int(), "attention_mask": batch["attention_mask"].bool(),
            "labels": batch["labels"]}


def pad_to_512(examples, pad_id):
    ids = torch.full((len(examples), 512), pad_id)
    mask = torch.zeros((len(examples), 512), dtype=torch.long)
    for row, example in enumerate(examples):
        ids[row, : len(example["input_ids"])] = torch.tensor(example["input_ids"])
        mask[row, : len(example["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([e["label"] for e in examples])}


def pad_mask_all_ones(examples, pad_id):
    batch = ref("02.1")(examples, pad_id)
    return dict(batch, attention_mask=torch.ones_like(batch["input_ids"]))


def pad_left(examples, pad_id):
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.tensor([[pad_id] * (width - len(e["input_ids"])) + e["input_ids"] for e in examples])
    mask = torch.tensor([[0] * (width - len(e["input_ids"])) + [1] * len(e["input_ids"]) for e in examples])
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([e["label"] for e in examples])}


def pad_singular_label(examples, pad_id):
    batch = ref("02.1")(examples, pad_id)
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "label": batch["labels"]}


def pad_with_zero(examples, pad_id):
    return ref("02.1")(examples, 0)


def pad_in_place(examples, pad_id):
    width = max(len(e["input_ids"]) for e in examples)
    for example in examples:
        example["attention_mask"] = [1] * len(example["input_ids"]) + [0] * (width - len(example["input_ids"]))
        example["input_ids"] += [pad_id] * (width - len(example["input_ids"]))
    return {"input_ids": torch.tensor([e["input_ids"] for e in examples]),
            "attention_mask": torch.tensor([e["attention_mask"] for e in examples]),
            "labels": torch.tensor([e["label"] for e in examples])}


def pad_lists(examples, pad_id):
    return {key: value.tolist() for key, value in ref("02.1")(examples, pad_id).items()}


# ------------------------------------------------------------------ 02.2
def metrics_by_hand(eval_pred):  # right: NumPy by hand, via the EvalPrediction's attributes, softmax > 0.5
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities = probabilities / probabilities.sum(-1, keepdims=True)
    predictions = (probabilities[:, 1] > 0.5).astype(int)
    tp = int(((predictions == 1) & (labels == 1)).sum())
    precision = tp / max(1, int((predictions == 1).sum()))
    recall = tp / max(1, int((labels == 1).sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float((predictions == labels).mean()), "precision": precision, "recall": recall, "f1": f1}


def _sk(labels, predictions):
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    return {"accuracy": accuracy_score(labels, predictions), "precision": precision_score(labels, predictions,
                                                                                          zero_division=0),
            "recall": recall_score(labels, predictions, zero_division=0),
            "f1": f1_score(labels, predictions, zero_division=0)}


def metrics_swapped(eval_pred):
    logits, labels = eval_pred
    return _sk(logits.argmax(-1), labels)


def metrics_threshold_logit(eval_pred):
    logits, labels = eval_pred
    return _sk(labels, (logits[:, 1] > 0.5).astype(int))


def metrics_wrong_axis(eval_pred):
    logits, labels = eval_pred
    predictions = logits.argmax(axis=0)
    return {"accuracy": float(np.mean(predictions == labels[: len(predictions)])), "precision": 0, "recall": 0, "f1": 0}


def metrics_macro(eval_pred):
    from sklearn.metrics import f1_score

    logits, labels = eval_pred
    return dict(_sk(labels, logits.argmax(-1)), f1=f1_score(labels, logits.argmax(-1), average="macro"))


def metrics_missing_keys(eval_pred):
    logits, labels = eval_pred
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


# ------------------------------------------------------------------ 02.3
def predict_one_by_one(texts, model, tokenizer):  # right: one text at a time, limit from the tokenizer
    model.eval()
    device = next(model.parameters()).device
    results = []
    with torch.no_grad():
        for text in texts:
            batch = tokenizer(text, truncation=True, return_tensors="pt").to(device)
            p = torch.softmax(model(**batch).logits[0], -1)
            index = int(p.argmax())
            results.append({"label": model.config.id2label[index], "probability": p[index]})
    return results


def _predict(texts, model, tokenizer, max_length=None, device_move=True, evaluate=True, which="best"):
    if evaluate:
        model.eval()
    device = next(model.parameters()).device
    if not texts:
        return []
    with torch.no_grad():
        options = dict(truncation=True, max_length=max_length) if max_length else {}
        batch = tokenizer(list(texts), padding=True, return_tensors="pt", **options)
        if device_move:
            batch = batch.to(device)
        probabilities = torch.softmax(model(**batch).logits, -1).cpu()
    best = probabilities.argmax(-1)
    column = best if which == "best" else torch.ones_like(best)
    return [{"label": ("negative", "positive")[int(b)], "probability": float(p[int(c)])}
            for b, c, p in zip(best, column, probabilities)]


def predict_no_eval(texts, model, tokenizer):
    return _predict(texts, model, tokenizer, max_length=model.config.max_position_embeddings, evaluate=False)


def predict_positive_probability(texts, model, tokenizer):
    return _predict(texts, model, tokenizer, max_length=model.config.max_position_embeddings, which="positive")


def predict_max_length_128(texts, model, tokenizer):
    return _predict(texts, model, tokenizer, max_length=128)


def predict_no_truncation(texts, model, tokenizer):
    return _predict(texts, model, tokenizer)


def predict_index_labels(texts, model, tokenizer):
    return [{"label": int(item["label"] == "positive"), "probability": item["probability"]}
            for item in ref("02.3")(texts, model, tokenizer)]


def predict_dict(texts, model, tokenizer):
    return {text: item for text, item in zip(texts, ref("02.3")(texts, model, tokenizer))}


def predict_cpu_only(texts, model, tokenizer):  # never moves the batch: fails only where the model is on a GPU
    return _predict(texts, model, tokenizer, max_length=model.config.max_position_embeddings, device_move=False)


# ------------------------------------------------------------------ 03.1
def count_list(model):  # right: a list instead of a tuple
    return list(ref("03.1")(model))


def count_tensors(model):
    return sum(1 for p in model.parameters() if p.requires_grad), len(list(model.parameters()))


def count_ignores_requires_grad(model):
    total = sum(p.numel() for p in model.parameters())
    return total, total


def count_state_dict(model):
    total = sum(t.numel() for t in model.state_dict().values())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def count_named_duplicates(model):
    parameters = [p for _, p in model.named_parameters(remove_duplicate=False)]
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)


def count_swapped(model):
    trainable, total = ref("03.1")(model)
    return total, trainable


# ------------------------------------------------------------------ 03.2
def freeze_by_exact_names(model, k):  # right, another way: names with the trailing dot; returns None
    for name, parameter in model.named_parameters():
        if (k > 0 and name.startswith("bert.embeddings.")) or any(name.startswith(f"bert.encoder.layer.{i}.")
                                                                   for i in range(k)):
            parameter.requires_grad = False


def freeze_also_pooler(model, k):  # right: the pooler is not checked
    ref("03.2")(model, k)
    if k == len(model.bert.encoder.layer):
        for parameter in model.bert.pooler.parameters():
            parameter.requires_grad = False
    return model


def freeze_top(model, k):
    if k:
        for p in model.bert.embeddings.parameters():
            p.requires_grad = False
    for layer in model.bert.encoder.layer[len(model.bert.encoder.layer) - k:] if k else []:
        for p in layer.parameters():
            p.requires_grad = False
    return model


def freeze_forgets_embeddings(model, k):
    for layer in model.bert.encoder.layer[:k]:
        for p in layer.parameters():
            p.requires_grad = False


def freeze_everything(model, k):
    for p in model.parameters():
        p.requires_grad = False


def freeze_one_too_many(model, k):
    return ref("03.2")(model, min(k + 1, len(model.bert.encoder.layer)) if k else 0)


def freeze_name_prefix(model, k):  # "layer.1" also matches "layer.10" and "layer.11"
    for name, parameter in model.named_parameters():
        if (k > 0 and "embeddings" in name) or any(f"layer.{i}" in name for i in range(k)):
            parameter.requires_grad = False


def freeze_attention_only(model, k):
    if k:
        for p in model.bert.embeddings.parameters():
            p.requires_grad = False
    for layer in model.bert.encoder.layer[:k]:
        for p in layer.attention.parameters():
            p.requires_grad = False


# ------------------------------------------------------------------ 03.3
def lora_regex():  # right: a regular expression over module names
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=r".*attention\.self\.(query|key|value)")


def lora_modules_to_save():  # right: no task type, but the head is saved and trained by hand
    from peft import LoraConfig

    return LoraConfig(r=8, target_modules={"query", "value"}, modules_to_save=["classifier"])


def lora_feed_forward():
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.SEQ_CLS, r=8, target_modules=["intermediate.dense", "output.dense"])


def lora_all_dense():
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.SEQ_CLS, r=8, target_modules=["query", "value", "dense"])


def lora_no_task_type():
    from peft import LoraConfig

    return LoraConfig(r=8, target_modules=["query", "value"])


def lora_high_rank():
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.SEQ_CLS, r=256, target_modules=["query", "value"])


def lora_dict():
    return {"r": 8, "target_modules": ["query", "value"]}


def lora_unknown_module():
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.SEQ_CLS, r=8, target_modules=["q_proj", "v_proj"])


# ------------------------------------------------------------------ 04.1
class StopCounter:
    """Right, another way: a counter of bad epochs, NumPy comparisons allowed."""

    def __init__(self, patience):
        self.patience, self.bad, self.best, self.best_epoch, self.epoch = patience, 0, None, None, 0

    def update(self, loss):
        self.epoch += 1
        if self.best is None or loss < self.best:
            self.best, self.best_epoch, self.bad = loss, self.epoch, 0
        else:
            self.bad += 1
        return np.bool_(self.bad >= self.patience)


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


class ComparesWithPreviousEpoch:
    def __init__(self, patience):
        self.patience, self.previous, self.bad, self.epoch = patience, float("inf"), 0, 0
        self.best_loss, self.best_epoch = float("inf"), None

    def update(self, loss):
        self.epoch += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epoch
        self.bad = 0 if loss < self.previous else self.bad + 1
        self.previous = loss
        return self.bad >= self.patience


class NeverResets:
    def __init__(self, patience):
        self.patience, self.bad, self.best_loss, self.best_epoch, self.epoch = patience, 0, float("inf"), None, 0

    def update(self, loss):
        self.epoch += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epoch
        else:
            self.bad += 1
        return self.bad >= self.patience


class OneEpochLate(EqualCountsAsBetter):
    def update(self, loss):
        self.epoch += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epoch
        return self.epoch - self.best_epoch > self.patience


class ReturnsInts(EqualCountsAsBetter):
    def update(self, loss):
        self.epoch += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epoch
        return int(self.epoch - self.best_epoch >= self.patience)


# ------------------------------------------------------------------ 04.2
def augment_per_character(text, rate, seed):
    """Right, another way: each character edited with probability rate; neighbour swaps."""
    rng = random.Random(seed)
    if rate == 0 or len(text) < 2:
        return text
    chars, result, i = list(text), [], 0
    while i < len(chars):
        if rng.random() < rate:
            operation = rng.choice(("delete", "swap", "insert"))
            if operation == "delete":
                i += 1
                continue
            if operation == "swap" and i + 1 < len(chars):
                result += [chars[i + 1], chars[i]]
                i += 2
                continue
            result += [rng.choice(chars), chars[i]]
        else:
            result.append(chars[i])
        i += 1
    return "".join(result)


def augment_helper(text, rate, seed):  # right: the course helper with its own Random
    from helpers.regularization import augment_text

    return augment_text(text, rate, random.Random(seed))


def augment_global_random(text, rate, seed):
    random.seed(seed)
    chars = list(text)
    if rate == 0 or len(chars) < 2:
        return text
    for _ in range(max(1, round(rate * len(chars)))):
        del chars[random.randrange(len(chars))]
    return "".join(chars)


def augment_foreign(text, rate, seed):
    if rate == 0 or not text:
        return text
    chars = list(text)
    chars[random.Random(seed).randrange(len(chars))] = "😊"
    return "".join(chars)


def augment_no_op(text, rate, seed):
    return text


def augment_one_edit(text, rate, seed):
    return ref("04.2")(text, 1 / len(text) if text and rate else rate, seed)


def augment_far_too_much(text, rate, seed):
    rng = random.Random(seed)
    return text if rate == 0 or len(text) < 2 else "".join(rng.choice(text) for _ in range(len(text)))


def augment_triple(text, rate, seed):
    return ref("04.2")(text, min(1.0, 3 * rate), seed)


def augment_chars_list(text, rate, seed):
    return list(ref("04.2")(text, rate, seed))


# ------------------------------------------------------------------ 04.3
def _word(model):
    return model.bert.embeddings.word_embeddings.weight


def fgm_attack_dict(model, epsilon):  # right, another way: a dict backup, like the FGM class
    backup = {}
    for name, parameter in model.named_parameters():
        if "word_embeddings" in name and parameter.grad is not None:
            norm = parameter.grad.norm()
            if norm != 0 and not torch.isnan(norm):
                backup[name] = parameter.data.clone()
                parameter.data.add_(epsilon * parameter.grad / norm)
    return backup


def fgm_restore_dict(model, backup):
    for name, parameter in model.named_parameters():
        if name in backup:
            parameter.data = backup[name]


def fgm_attack_no_norm(model, epsilon):
    backup = _word(model).detach().clone()
    with torch.no_grad():
        _word(model).add_(epsilon * _word(model).grad)
    return backup


def fgm_attack_wrong_direction(model, epsilon):
    backup = _word(model).detach().clone()
    with torch.no_grad():
        _word(model).sub_(epsilon * _word(model).grad / _word(model).grad.norm())
    return backup


def fgm_attack_all_embeddings(model, epsilon):  # also perturbs position and token-type embeddings
    backup = {}
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "embeddings" in name and parameter.grad is not None and parameter.grad.norm() > 0:
                backup[name] = parameter.detach().clone()
                parameter.add_(epsilon * parameter.grad / parameter.grad.norm())
    return backup


def fgm_attack_zeroes_grads(model, epsilon):
    backup = ref("04.3")[0](model, epsilon)
    model.zero_grad()
    return backup


def fgm_attack_no_clone(model, epsilon):
    backup = _word(model).data
    with torch.no_grad():
        norm = _word(model).grad.norm()
        if norm > 0:
            _word(model).add_(epsilon * _word(model).grad / norm)
    return backup


def fgm_attack_no_zero_guard(model, epsilon):
    backup = _word(model).detach().clone()
    with torch.no_grad():
        _word(model).add_(epsilon * _word(model).grad / _word(model).grad.norm())
    return backup


def fgm_restore_nothing(model, backup):
    return None


def fgm_restore_all_from_state(model, backup):  # restores the embeddings, then re-initialises the classifier
    ref("04.3")[1](model, backup)
    with torch.no_grad():
        model.classifier.weight.zero_()


# ------------------------------------------------------------------ 05.1 / 05.2 / 05.3
def top_k_exactly_k(logits, k):  # right: exactly k, ties broken by torch.topk
    indices = torch.topk(logits, k, dim=-1).indices
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, indices, True)
    return logits.masked_fill(~keep, float("-inf"))


def top_k_library(logits, k):  # right: transformers itself
    from transformers import TopKLogitsWarper

    return TopKLogitsWarper(top_k=k)(None, logits.reshape(-1, logits.shape[-1]).clone()).reshape(logits.shape)


def top_k_one_more(logits, k):
    return top_k_exactly_k(logits, min(k + 1, logits.shape[-1]))


def top_k_probabilities(logits, k):
    return torch.softmax(top_k_exactly_k(logits, k), -1)


def top_k_scaled(logits, k):
    return top_k_exactly_k(logits, k) * 2


def top_k_smallest(logits, k):
    indices = torch.topk(logits, k, dim=-1, largest=False).indices
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, indices, True)
    return logits.masked_fill(~keep, float("-inf"))


def top_k_large_negative(logits, k):
    return top_k_exactly_k(logits, k).nan_to_num(neginf=-1e9)


def top_k_list(logits, k):
    return top_k_exactly_k(logits, k).tolist()


def top_k_long(logits, k):
    return top_k_exactly_k(logits, k).nan_to_num(neginf=-1e4).long()


def top_p_library(logits, p):  # right: transformers itself (float32 inside)
    from transformers import TopPLogitsWarper

    rows = logits.float().reshape(-1, logits.shape[-1]).clone()
    return TopPLogitsWarper(top_p=p)(None, rows).reshape(logits.shape).to(logits.dtype)


def top_p_other_tie_break(logits, p):
    """Right: descending sort (another order among equal logits), keep while the mass before a token is < p."""
    sorted_logits, order = torch.sort(logits.float(), dim=-1, descending=True, stable=True)
    probabilities = torch.softmax(sorted_logits, -1)
    before = probabilities.cumsum(-1) - probabilities
    remove_sorted = before >= p
    remove_sorted[..., 0] = False
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def top_p_without_crossing_token(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    cumulative = torch.softmax(sorted_logits.float(), -1).cumsum(-1)
    remove = cumulative > p
    remove[..., 0] = False
    return logits.masked_fill(torch.zeros_like(remove).scatter(-1, order, remove), float("-inf"))


def top_p_on_logits(logits, p):
    return logits.masked_fill(logits < p, float("-inf"))


def top_p_least_likely(logits, p):
    sorted_logits, order = torch.sort(logits.float(), dim=-1, descending=False)
    cumulative = torch.softmax(sorted_logits, -1).cumsum(-1)
    remove = cumulative > p
    remove[..., 0] = False
    return logits.masked_fill(torch.zeros_like(remove).scatter(-1, order, remove), float("-inf"))


def top_p_not_scattered(logits, p):  # builds the mask in sorted order and applies it to the unsorted logits
    sorted_logits, _ = torch.sort(logits.float(), dim=-1, descending=False)
    remove = torch.softmax(sorted_logits, -1).cumsum(-1) <= (1 - p)
    remove[..., -1] = False
    return logits.masked_fill(remove, float("-inf"))


def top_p_keeps_none(logits, p):  # keeps tokens while the cumulative probability stays within p: none if p is small
    sorted_logits, order = torch.sort(logits.float(), dim=-1, descending=True)
    remove = torch.softmax(sorted_logits, -1).cumsum(-1) > p
    return logits.masked_fill(torch.zeros_like(remove).scatter(-1, order, remove), float("-inf"))


def temperature_float64(logits, t):  # right: float64 result
    return logits.double() / t


def temperature_times(logits, t):
    return logits * t


def temperature_in_place(logits, t):
    return logits.div_(t)


def temperature_softmax(logits, t):
    return torch.softmax(logits.float() / t, -1)


def temperature_minus(logits, t):
    return logits - t


# ------------------------------------------------------------------ 05.4
def greedy_with_cache(model, input_ids, max_new_tokens):  # right: the KV cache, like generate()
    ids, past, step_input = input_ids, None, input_ids
    with torch.no_grad():
        for _ in range(max_new_tokens):
            output = model(step_input, past_key_values=past, use_cache=True)
            past = output.past_key_values
            step_input = output.logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, step_input], dim=-1)
    return ids


def greedy_generate_call(model, input_ids, max_new_tokens):  # right: the library
    if max_new_tokens == 0:
        return input_ids
    return model.generate(input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                          max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens, pad_token_id=0,
                          eos_token_id=None)


def greedy_first_position(model, input_ids, max_new_tokens):
    ids = input_ids
    with torch.no_grad():
        for _ in range(max_new_tokens):
            ids = torch.cat([ids, model(ids).logits[:, 0].argmax(-1, keepdim=True)], dim=-1)
    return ids


def greedy_new_tokens_only(model, input_ids, max_new_tokens):
    return ref("05.4")(model, input_ids, max_new_tokens)[:, input_ids.shape[1]:]


def greedy_one_more(model, input_ids, max_new_tokens):
    return ref("05.4")(model, input_ids, max_new_tokens + 1)


def greedy_list(model, input_ids, max_new_tokens):
    return ref("05.4")(model, input_ids, max_new_tokens).tolist()


def greedy_second_best(model, input_ids, max_new_tokens):
    ids = input_ids
    with torch.no_grad():
        for _ in range(max_new_tokens):
            ids = torch.cat([ids, model(ids).logits[:, -1].topk(2).indices[:, 1:]], dim=-1)
    return ids


# ------------------------------------------------------------------ 06.1 / 06.2 / 06.3
def control_tensor(text, label, tokenizer, max_length):  # right: a tensor
    return torch.tensor(ref("06.1")(text, label, tokenizer, max_length))


def control_last(text, label, tokenizer, max_length):
    ids = ref("06.1")(text, label, tokenizer, max_length)
    return ids[1:-1] + [ids[0], ids[-1]]


def control_no_sep(text, label, tokenizer, max_length):
    return ref("06.1")(text, label, tokenizer, max_length + 1)[:-1]


def control_no_truncation(text, label, tokenizer, max_length):
    return ref("06.1")(text, label, tokenizer, 10_000)


def control_truncates_one_short(text, label, tokenizer, max_length):
    ids = ref("06.1")(text, label, tokenizer, 10_000)
    return ids[:1] + ids[1:-1][: max_length - 1] + ids[-1:]


def control_with_cls(text, label, tokenizer, max_length):
    control = tokenizer.convert_tokens_to_ids("[POS]" if label == 1 else "[NEG]")
    return [control] + tokenizer(text, truncation=True, max_length=max_length - 1)["input_ids"]


def control_swapped_labels(text, label, tokenizer, max_length):
    return ref("06.1")(text, 1 - label, tokenizer, max_length)


def control_truncates_text(text, label, tokenizer, max_length):
    control = tokenizer.convert_tokens_to_ids("[POS]" if label == 1 else "[NEG]")
    return [control] + tokenizer(text[: max_length - 2], add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]


def distinct_per_text(texts):
    scores = [len({t[i : i + 2] for i in range(len(t) - 1)}) / (len(t) - 1) for t in texts if len(t) > 1]
    return sum(scores) / len(scores) if scores else 0.0


def distinct_joined(texts):
    joined = "".join(texts)
    grams = [joined[i : i + 2] for i in range(len(joined) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def distinct_per_text_count(texts):
    grams = [t[i : i + 2] for t in texts for i in range(len(t) - 1)]
    return len(set(grams)) / max(1, len(texts))


def distinct_crashes_when_empty(texts):
    grams = [t[i : i + 2] for t in texts for i in range(len(t) - 1)]
    return len(set(grams)) / len(grams)


def distinct_string(texts):
    return f"{ref('06.2')(texts):.2f}"


def copies_sliding_training(text, training_text, window):  # right, another way: slide over the training text
    stretches = {training_text[i : i + window] for i in range(len(training_text) - window + 1)}
    return any(text[i : i + window] in stretches for i in range(len(text) - window + 1))


def copies_whole_text(text, training_text, window):
    return text in training_text and len(text) >= window


def copies_misses_last(text, training_text, window):
    return any(text[i : i + window] in training_text for i in range(len(text) - window))


def copies_aligned_chunks(text, training_text, window):
    return any(text[i : i + window] in training_text for i in range(0, len(text) - window + 1, window))


def copies_fixed_window(text, training_text, window):
    return ref("06.3")(text, training_text, 8)


def copies_int(text, training_text, window):
    return int(ref("06.3")(text, training_text, window))


# ------------------------------------------------------------------ the tables the tests read
ALTERNATIVES = {  # correct answers written differently: each must pass
    "00.1": [unk_offsets], "01.1": [mask_exact_count], "01.2": [loss_float64, loss_by_hand], "01.3": [pack_tensor],
    "02.1": [pad_bool_mask_int32], "02.2": [metrics_by_hand], "02.3": [predict_one_by_one],
    "03.1": [count_list], "03.2": [freeze_by_exact_names, freeze_also_pooler],
    "03.3": [lora_regex, lora_modules_to_save], "04.1": [StopCounter], "04.2": [augment_per_character, augment_helper],
    "04.3": [(fgm_attack_dict, fgm_restore_dict)], "05.1": [top_k_exactly_k, top_k_library],
    "05.2": [top_p_library, top_p_other_tie_break], "05.3": [temperature_float64],
    "05.4": [greedy_with_cache, greedy_generate_call], "06.1": [control_tensor], "06.2": [],
    "06.3": [copies_sliding_training],
}

MUTANTS = {  # plausible wrong answers, each with a fragment of the specific message it must get
    "00.1": [(unk_vocab_lookup, "ask the tokenizer"), (unk_nfkc_vocab, "but the tokenizer knows them"),
             (unk_zip_tokens, "by position"), (unk_emoji_only, "you missed"), (unk_duplicates, "each character once"),
             (unk_sorted, "order of first appearance"), (unk_as_set, "returned a set"),
             (unk_ids, "not a single character")],
    "01.1": [(mask_always_mask, "became [MASK]"), (mask_selects_specials, "special tokens probability 0"),
             (mask_labels_everywhere, "must be -100 wherever"), (mask_in_place, "in place"),
             (mask_unseeded, "same generator seed"), (mask_own_seed, "different generator seeds"),
             (mask_fixed_rate, "Use the argument"), (mask_swapped_pair, "(masked_inputs, labels) in that order"),
             (mask_narrow_random, "whole vocabulary"), (mask_in_order, "half of the rows")],
    "01.2": [(loss_unshifted, "copying"), (loss_sum, "SUM"), (loss_wrong_way, "wrong way"),
             (loss_detached, "no gradient"), (loss_softmax_twice, "probabilities to cross-entropy"),
             (loss_python_float, "single-number tensor")],
    "01.3": [(pack_keeps_tail, "incomplete tail"), (pack_pads_tail, "incomplete tail"),
             (pack_no_separator, "followed by sep_id"), (pack_separator_first, "followed by sep_id"),
             (pack_separates_empty, "empty documents add nothing"), (pack_per_document, "run on from one block"),
             (pack_sep_three, "sep_id")],
    "02.1": [(pad_to_512, "not a fixed length"), (pad_mask_all_ones, "attention_mask"), (pad_left, "on the right"),
             (pad_singular_label, "'labels' (plural)"), (pad_with_zero, "not a constant"),
             (pad_in_place, "changed the examples"), (pad_lists, "torch.long tensor")],
    "02.2": [(metrics_swapped, "swapped the arguments"), (metrics_threshold_logit, "argmax"),
             (metrics_wrong_axis, "expected"), (metrics_macro, "f1 is"), (metrics_missing_keys, "no 'precision'")],
    "02.3": [(predict_no_eval, "model.eval()"), (predict_positive_probability, "P(positive)"),
             (predict_max_length_128, "model's limit"), (predict_no_truncation, "model's limit"),
             (predict_index_labels, "not an index"), (predict_dict, "one per text")],
    "03.1": [(count_tensors, "tensors"), (count_ignores_requires_grad, "requires_grad"),
             (count_state_dict, "state_dict() lists both"), (count_named_duplicates, "tied) tensor twice"),
             (count_swapped, "the order is (trainable, total)")],
    "03.2": [(freeze_top, "TOP layers"), (freeze_forgets_embeddings, "embeddings are still trainable"),
             (freeze_everything, "classifier is frozen"), (freeze_one_too_many, "one layer too many"),
             (freeze_name_prefix, "'layer.10'"), (freeze_attention_only, "only partly frozen")],
    "03.3": [(lora_feed_forward, "attention projections"), (lora_all_dense, "nothing else"),
             (lora_no_task_type, "SEQ_CLS"), (lora_high_rank, "LOW rank"), (lora_dict, "peft.LoraConfig"),
             (lora_unknown_module, "named 'query', 'key', 'value'")],
    "04.1": [(StopsAtFirstBadEpoch, "epoch(s) in a row"), (EqualCountsAsBetter, "equal loss is not an improvement"),
             (ZeroBasedEpochs, "count from 1"), (ComparesWithPreviousEpoch, "not since the previous epoch"),
             (NeverResets, "in a row"), (OneEpochLate, "you went on after epoch"),
             (ReturnsInts, "return True or False")],
    "04.2": [(augment_global_random, "global random module"), (augment_foreign, "not in the text"),
             (augment_no_op, "not a fixed number"), (augment_one_edit, "not a fixed number"),
             (augment_far_too_much, "far too many"), (augment_triple, "far too many"),
             (augment_chars_list, "return a str")],
    "04.3": [(("no_norm", 0), "norm"), (("wrong_direction", 0), "points away"),
             (("all_embeddings", 0), "position_embeddings"), (("zeroes_grads", 0), "changed the gradient"),
             (("no_clone", 0), "after restore"), (("no_zero_guard", 0), "all-zero gradient"),
             (("restore_nothing", 1), "after restore"), (("restore_damages", 1), "classifier.weight")],
    "05.1": [(top_k_one_more, "keep only values >= it"), (top_k_probabilities, "returned probabilities"),
             (top_k_scaled, "kept logits changed"), (top_k_smallest, "you keep"),
             (top_k_large_negative, "float('-inf')"), (top_k_list, "return a tensor"), (top_k_long, "floating-point")],
    "05.2": [(top_p_without_crossing_token, "crosses p is kept"), (top_p_on_logits, "probabilities"),
             (top_p_least_likely, "MOST likely"), (top_p_not_scattered, "map the mask back"),
             (top_p_keeps_none, "at least the most likely")],
    "05.3": [(temperature_times, "sharper"), (temperature_in_place, "in place"),
             (temperature_softmax, "differs from logits / t"), (temperature_minus, "differs from logits / t")],
    "05.4": [(greedy_first_position, "LAST position"), (greedy_new_tokens_only, "prompt followed by"),
             (greedy_one_more, "prompt followed by"), (greedy_list, "return a tensor"),
             (greedy_second_best, "LAST position")],
    "06.1": [(control_last, "first id"), (control_no_sep, "[SEP]"), (control_no_truncation, "truncate"),
             (control_truncates_one_short, "fit in max_length"), (control_with_cls, "add_special_tokens=False"),
             (control_swapped_labels, "must be the control token"), (control_truncates_text, "ids")],
    "06.2": [(distinct_per_text, "averaged per text"), (distinct_joined, "joined the texts"),
             (distinct_per_text_count, "expected"), (distinct_crashes_when_empty, "no bigram at all, return 0.0"),
             (distinct_string, "expected a number")],
    "06.3": [(copies_whole_text, "expected True"), (copies_misses_last, "inclusive"),
             (copies_aligned_chunks, "not a multiple of the window"), (copies_fixed_window, "window"),
             (copies_int, "True or False")],
}

_FGM_PARTS = {"no_norm": fgm_attack_no_norm, "wrong_direction": fgm_attack_wrong_direction,
              "all_embeddings": fgm_attack_all_embeddings, "zeroes_grads": fgm_attack_zeroes_grads,
              "no_clone": fgm_attack_no_clone, "no_zero_guard": fgm_attack_no_zero_guard,
              "restore_nothing": fgm_restore_nothing, "restore_damages": fgm_restore_all_from_state}


def answer_of(exercise_id: str, entry):
    """An entry of ALTERNATIVES/MUTANTS as something check() takes (04.3 mutants replace one half of the reference)."""
    if exercise_id == "04.3" and isinstance(entry, tuple) and isinstance(entry[0], str):
        name, half = entry
        attack, restore = ref("04.3")
        return (_FGM_PARTS[name], restore) if half == 0 else (attack, _FGM_PARTS[name])
    return entry


def name_of(entry) -> str:
    if isinstance(entry, tuple):
        return "+".join(str(getattr(part, "__name__", part)) for part in entry)
    return getattr(entry, "__name__", repr(entry))


def junk_answers(exercise_id: str) -> list:
    """Answers of the wrong kind: return types a confused learner produces, and code that raises."""
    values = [None, "text", 3, [1, 2, 3], {"a": 1}, torch.zeros(2, 3, dtype=torch.long), np.zeros(3), (1, 2),
              torch.tensor(float("nan"))]

    def raising(*args):
        raise RuntimeError("boom inside the learner's code")

    if exercise_id == "04.1":
        class ReturnsJunk:
            def __init__(self, patience):
                pass

        answers = [ReturnsJunk, "EarlyStopping", 3]
        for value in values:
            answers.append(type("Junk", (), {"__init__": lambda self, patience: None,
                                             "update": lambda self, loss, v=value: v}))
        answers.append(type("Raises", (), {"__init__": lambda self, patience: None, "update": raising}))
        return answers
    functions = [lambda *args, v=value: v for value in values] + [raising, "a string, not a function"]
    if exercise_id == "04.3":
        attack, restore = ref("04.3")
        return [(f, restore) for f in functions[:-1]] + [(attack, f) for f in functions[:-1]] + [attack, ("a", "b")]
    return functions
