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
           "06": "06_gpt_finetuning", "07": "07_ner", "08": "08_deployment", "09": "09_scaling_out",
           "11": "11_build_it_yourself"}
ANSWER_NAMES = {"00.1": "unk_characters", "01.1": "mask_tokens", "01.2": "next_token_loss", "01.3": "pack",
                "02.1": "pad_batch", "02.2": "compute_metrics", "02.3": "predict", "03.1": "count_parameters",
                "03.2": "freeze_bottom", "03.3": "make_lora_config", "04.1": "EarlyStopping", "04.2": "augment",
                "04.3": ("fgm_attack", "fgm_restore"), "05.1": "top_k_filter", "05.2": "top_p_filter",
                "05.3": "apply_temperature", "05.4": "greedy_generate", "06.1": "control_example",
                "06.2": "distinct_2", "06.3": "copies_training", "07.1": "bio_from_spans", "07.2": "spans_from_bio",
                "07.3": "align_word_labels", "07.4": "entity_f1", "08.1": "size_on_disk_bytes",
                "08.2": "distillation_loss", "08.3": "validate_texts", "08.4": "head_parameters",
                "09.1": "rank_shard", "09.2": "adam_memory", "09.3": "zero_memory_per_gpu",
                "09.4": "scaled_batch_and_lr", "11.1": "attention", "11.2": "embed_by_hand",
                "11.3": "static_and_contextual", "11.4": "LoRALinear", "11.5": "token_stats", "11.6": "prompt_ids",
                "11.7": "read_scalars"}
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
def control_tensors(text, label, tokenizer, start_ids, max_length):  # right: tensors
    example = ref("06.1")(text, label, tokenizer, start_ids, max_length)
    return {key: torch.tensor(value) for key, value in example.items()}


def control_position_zero_unmasked(text, label, tokenizer, start_ids, max_length):  # right: label 0 is never used
    example = ref("06.1")(text, label, tokenizer, start_ids, max_length)
    return {"input_ids": example["input_ids"], "labels": example["input_ids"][:1] + example["labels"][1:]}


def control_before_start(text, label, tokenizer, start_ids, max_length):
    example = ref("06.1")(text, label, tokenizer, [], max_length - len(start_ids))
    ids = example["input_ids"][:1] + list(start_ids) + example["input_ids"][1:]
    return {"input_ids": ids, "labels": [-100] * (len(start_ids) + 1) + example["labels"][1:]}


def control_only_start_masked(text, label, tokenizer, start_ids, max_length):
    example = ref("06.1")(text, label, tokenizer, start_ids, max_length)
    ids = example["input_ids"]
    return {"input_ids": ids, "labels": [-100] * len(start_ids) + ids[len(start_ids):]}


def control_nothing_masked(text, label, tokenizer, start_ids, max_length):
    example = ref("06.1")(text, label, tokenizer, start_ids, max_length)
    return {"input_ids": example["input_ids"], "labels": list(example["input_ids"])}


def control_labels_shifted(text, label, tokenizer, start_ids, max_length):
    example = ref("06.1")(text, label, tokenizer, start_ids, max_length)
    return {"input_ids": example["input_ids"], "labels": example["labels"][1:] + [-100]}


def control_no_sep(text, label, tokenizer, start_ids, max_length):
    example = ref("06.1")(text, label, tokenizer, start_ids, max_length + 1)
    return {key: value[:-1] for key, value in example.items()}


def control_no_truncation(text, label, tokenizer, start_ids, max_length):
    return ref("06.1")(text, label, tokenizer, start_ids, 10_000)


def control_truncates_one_short(text, label, tokenizer, start_ids, max_length):
    example = ref("06.1")(text, label, tokenizer, start_ids, max_length)
    if len(example["input_ids"]) < max_length:  # nothing was cut: cut one more review id than needed anyway
        return example
    return {key: value[:-2] + value[-1:] for key, value in example.items()}


def control_swapped_labels(text, label, tokenizer, start_ids, max_length):
    return ref("06.1")(text, 1 - label, tokenizer, start_ids, max_length)


def control_ids_only(text, label, tokenizer, start_ids, max_length):
    return ref("06.1")(text, label, tokenizer, start_ids, max_length)["input_ids"]


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


# ------------------------------------------------------------------ 07.1
def _bio(length, spans, first="B-", shift=0):
    tags = ["O"] * length
    for kind, start, end in spans:
        for position in range(start + shift, min(end + shift, length)):
            tags[position] = (first if position == start + shift else "I-") + kind
    return tags


def bio_library(length, spans):  # right: the course helper
    from helpers.ner import spans_to_bio

    return spans_to_bio(length, spans)


def bio_tuple_by_slices(length, spans):  # right: slice assignment, returned as a tuple
    tags = ["O"] * length
    for kind, start, end in spans:
        tags[start:end] = ["B-" + kind] + ["I-" + kind] * (end - start - 1)
    return tuple(tags)


def bio_end_inclusive(length, spans):
    tags = ["O"] * length
    for kind, start, end in spans:
        for position in range(start, min(end + 1, length)):
            tags[position] = ("B-" if position == start else "I-") + kind
    return tags


def bio_continue_same_type(length, spans):
    tags = ["O"] * length
    for kind, start, end in spans:
        for position in range(start, end):
            begins = position == start and (position == 0 or tags[position - 1][2:] != kind)
            tags[position] = ("B-" if begins else "I-") + kind
    return tags


def bio_all_b(length, spans):
    tags = ["O"] * length
    for kind, start, end in spans:
        tags[start:end] = ["B-" + kind] * (end - start)
    return tags


def bio_all_i(length, spans):
    return _bio(length, spans, first="I-")


def bio_one_based(length, spans):  # positions counted from 1
    return _bio(length, spans, shift=1)


def bio_one_short(length, spans):
    return ["O"] * (length - 1)


def bio_string(length, spans):
    return "O" * length


def bio_label_ids(length, spans):
    from helpers.ner import LABEL2ID

    return [LABEL2ID[tag] for tag in ref("07.1")(length, spans)] or [0]


# ------------------------------------------------------------------ 07.2
def spans_library(tags):  # right: the course helper
    from helpers.ner import bio_to_spans

    return bio_to_spans(tags)


def spans_lists_last_first(tags):  # right: each entity found from its start tag; [type, start, end] lists, last first
    found = set()
    for start, tag in enumerate(tags):
        if tag != "O" and (tag.startswith("B-") or start == 0 or tags[start - 1][2:] != tag[2:]):
            end = start + 1
            while end < len(tags) and tags[end] == "I-" + tag[2:]:
                end += 1
            found.add((tag[2:], start, end))
    return [list(span) for span in sorted(found, reverse=True)]


def spans_ignore_orphan_i(tags):
    spans, current = [], None
    for position, tag in enumerate(list(tags) + ["O"]):
        if current and not (tag.startswith("I-") and tag[2:] == current[0]):
            spans.append((current[0], current[1], position))
            current = None
        if tag.startswith("B-"):
            current = (tag[2:], position)
    return spans


def spans_inclusive_end(tags):
    from helpers.ner import bio_to_spans

    return [(kind, start, end - 1) for kind, start, end in bio_to_spans(tags)]


def spans_merge_b_b(tags):
    spans, current = [], None
    for position, tag in enumerate(list(tags) + ["O"]):
        kind = tag[2:]
        if current and kind != current[0]:
            spans.append((current[0], current[1], position))
            current = None
        if tag != "O" and current is None:
            current = (kind, position)
    return spans


def spans_forgets_last(tags):  # no sentinel: the entity still open after the loop is lost
    spans, current = [], None
    for position, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        continues = current is not None and prefix == "I" and kind == current[0]
        if current is not None and not continues:
            spans.append((current[0], current[1], position))
            current = None
        if prefix in ("B", "I") and not continues:
            current = (kind, position)
    return spans


def spans_type_switch_continues(tags):  # any I- continues the open entity, whatever its type
    spans, current = [], None
    for position, tag in enumerate(list(tags) + ["O"]):
        prefix, _, kind = tag.partition("-")
        continues = current is not None and prefix == "I"
        if current is not None and not continues:
            spans.append((current[0], current[1], position))
            current = None
        if prefix in ("B", "I") and not continues:
            current = (kind, position)
    return spans


def spans_start_end_type(tags):
    return [(start, end, kind) for kind, start, end in ref("07.2")(tags)]


def spans_prefixed_type(tags):
    return [(tags[start], start, end) for _, start, end in ref("07.2")(tags)]


def spans_string(tags):
    return "PER 0 3"


# ------------------------------------------------------------------ 07.3
def align_library(word_ids, word_labels):  # right: the course helper
    from helpers.token_classification import align_labels

    return align_labels(word_ids, word_labels)


def align_tensor(word_ids, word_labels):  # right: a tensor, written with a set of words seen
    seen, labels = set(), []
    for word in word_ids:
        labels.append(-100 if word is None or word in seen else word_labels[word])
        if word is not None:
            seen.add(word)
    return torch.tensor(labels)


def align_every_piece(word_ids, word_labels):
    return [-100 if w is None else word_labels[w] for w in word_ids]


def align_zero_for_specials(word_ids, word_labels):
    labels, previous = [], None
    for w in word_ids:
        labels.append(0 if w is None else (-100 if w == previous else word_labels[w]))
        previous = w
    return labels


def align_per_word(word_ids, word_labels):
    return list(word_labels)


def align_last_piece(word_ids, word_labels):
    labels = []
    for i, word in enumerate(word_ids):
        last = word is not None and (i + 1 == len(word_ids) or word_ids[i + 1] != word)
        labels.append(word_labels[word] if last else -100)
    return labels


def align_minus_one(word_ids, word_labels):
    return [-1 if label == -100 else label for label in ref("07.3")(word_ids, word_labels)]


def align_all_pieces_i(word_ids, word_labels):  # later pieces get I- (a valid option elsewhere, not what is asked)
    from helpers.token_classification import align_labels

    return align_labels(word_ids, word_labels, label_all_pieces=True)


# ------------------------------------------------------------------ 07.4
def f1_seqeval(true_tags, predicted_tags):  # right: the library, with its default zero_division
    import warnings

    from seqeval.metrics import f1_score

    with warnings.catch_warnings():  # "F-score is ill-defined" where neither side has an entity (it returns 0.0)
        warnings.simplefilter("ignore")
        return f1_score(true_tags, predicted_tags)


def f1_numpy_counts(true_tags, predicted_tags):  # right: counts per sentence with the course helper, NumPy result
    from helpers.ner import bio_to_spans

    counts = np.zeros(3)
    for gold, predicted in zip(true_tags, predicted_tags):
        g, p = set(bio_to_spans(gold)), set(bio_to_spans(predicted))
        counts += [len(g & p), len(g), len(p)]
    correct, n_gold, n_predicted = counts
    return np.float64(2 * correct / (n_gold + n_predicted)) if n_gold + n_predicted else np.float64(0.0)


def f1_token_accuracy(gold, predicted):
    pairs = [(a, b) for g, p in zip(gold, predicted) for a, b in zip(g, p)]
    return sum(a == b for a, b in pairs) / len(pairs)


def f1_overlap_counts(gold, predicted):
    from helpers.ner import bio_to_spans

    correct = n_gold = n_predicted = 0
    for g, p in zip(gold, predicted):
        gold_spans, predicted_spans = bio_to_spans(g), bio_to_spans(p)
        n_gold += len(gold_spans)
        n_predicted += len(predicted_spans)
        correct += sum(any(q[1] < s[2] and s[1] < q[2] for q in predicted_spans) for s in gold_spans)
    precision, recall = correct / max(n_predicted, 1), correct / max(n_gold, 1)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def f1_per_sentence_average(gold, predicted):
    from seqeval.metrics import f1_score

    return sum(f1_score([g], [p], zero_division=1) for g, p in zip(gold, predicted)) / len(gold)


def f1_macro(gold, predicted):
    from seqeval.metrics import f1_score

    return f1_score(gold, predicted, average="macro")


def _f1_parts(gold, predicted, reader=None):
    reader = reader or ref("07.2")
    correct = n_gold = n_predicted = 0
    for g, p in zip(gold, predicted):
        gs, ps = set(reader(g)), set(reader(p))
        correct, n_gold, n_predicted = correct + len(gs & ps), n_gold + len(gs), n_predicted + len(ps)
    return correct, n_gold, n_predicted


def f1_precision_only(gold, predicted):
    correct, _, n_predicted = _f1_parts(gold, predicted)
    return correct / n_predicted if n_predicted else 0.0


def f1_recall_only(gold, predicted):
    correct, n_gold, _ = _f1_parts(gold, predicted)
    return correct / n_gold if n_gold else 0.0


def f1_strict_reading(gold, predicted):  # spans read with a reader that drops an I- without B-
    correct, n_gold, n_predicted = _f1_parts(gold, predicted, spans_ignore_orphan_i)
    return 2 * correct / (n_gold + n_predicted) if n_gold + n_predicted else 0.0


def f1_word(gold, predicted):
    return "high"


# ------------------------------------------------------------------ 08.1
def size_payload(tensors):  # right: the payload only (elements x bytes per element), the header left out
    return sum(t.numel() * t.element_size() for t in tensors.values())


def size_in_memory(tensors):  # right: the bytes safetensors would write, serialised in memory, as a NumPy int
    from safetensors.torch import save

    return np.int64(len(save(tensors)))


def size_nbytes_tensor(tensors):  # right: nbytes, summed as a one-element tensor
    return torch.tensor([float(sum(t.nbytes for t in tensors.values()))])


def size_elements(tensors):
    return sum(t.numel() for t in tensors.values())


def size_four_bytes_each(tensors):  # every element taken as fp32
    return 4 * sum(t.numel() for t in tensors.values())


def size_dtype_table(tensors):  # a table of bytes per dtype that misses bf16 and int64 (4 bytes by default)
    table = {torch.float32: 4, torch.float16: 2, torch.int8: 1}
    return sum(t.numel() * table.get(t.dtype, 4) for t in tensors.values())


def size_bits(tensors):
    return 8 * size_payload(tensors)


def size_megabytes(tensors):
    return size_payload(tensors) / 1e6


def size_first_tensor(tensors):  # only the first tensor of the dict
    tensor = next(iter(tensors.values()))
    return tensor.numel() * tensor.element_size()


def size_string(tensors):
    return f"{size_payload(tensors) / 2**20:.1f} MB"


# ------------------------------------------------------------------ 08.2
def distill_library(student_logits, teacher_logits, labels, temperature, alpha):  # right: the course helper
    from helpers.compression import distillation_loss

    return distillation_loss(student_logits, teacher_logits, labels, temperature, alpha)


def distill_by_hand_float64(student_logits, teacher_logits, labels, temperature, alpha):
    """Right: KL written out as sum p_t (log p_t - log p_s), in float64, the cross-entropy by gather."""
    student, teacher = student_logits.double(), teacher_logits.double()
    log_p_teacher = torch.log_softmax(teacher / temperature, dim=-1)
    log_p_student = torch.log_softmax(student / temperature, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=-1).mean()
    hard = -torch.log_softmax(student, dim=-1).gather(1, labels.unsqueeze(1)).mean()
    return (alpha * temperature**2 * kl + (1 - alpha) * hard).reshape(1)


def distill_probability_target(student_logits, teacher_logits, labels, temperature, alpha):
    """Right: F.kl_div with the teacher's probabilities (log_target=False), as in most tutorials."""
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=1), F.softmax(teacher_logits / temperature, dim=1),
                    reduction="batchmean")
    return alpha * temperature * temperature * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def _kl(student, teacher, temperature, reduction="batchmean"):
    return F.kl_div(F.log_softmax(student / temperature, -1), F.log_softmax(teacher / temperature, -1),
                    log_target=True, reduction=reduction)


def distill_no_t_squared(s, t, y, temperature, alpha):
    return alpha * _kl(s, t, temperature) + (1 - alpha) * F.cross_entropy(s, y)


def distill_reversed_kl(s, t, y, temperature, alpha):
    reverse = F.kl_div(F.log_softmax(t / temperature, -1), F.log_softmax(s / temperature, -1), log_target=True,
                       reduction="batchmean")
    return alpha * reverse * temperature**2 + (1 - alpha) * F.cross_entropy(s, y)


def distill_mean_reduction(s, t, y, temperature, alpha):
    import warnings

    with warnings.catch_warnings():  # PyTorch warns that 'mean' is not the KL divergence: the mistake itself
        warnings.simplefilter("ignore", UserWarning)
        return alpha * _kl(s, t, temperature, "mean") * temperature**2 + (1 - alpha) * F.cross_entropy(s, y)


def distill_sum_reduction(s, t, y, temperature, alpha):
    return alpha * _kl(s, t, temperature, "sum") * temperature**2 + (1 - alpha) * F.cross_entropy(s, y)


def distill_swapped_alpha(s, t, y, temperature, alpha):
    return (1 - alpha) * _kl(s, t, temperature) * temperature**2 + alpha * F.cross_entropy(s, y)


def distill_teacher_not_softened(s, t, y, temperature, alpha):
    soft = F.kl_div(F.log_softmax(s / temperature, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean")
    return alpha * soft * temperature**2 + (1 - alpha) * F.cross_entropy(s, y)


def distill_student_not_softened(s, t, y, temperature, alpha):
    soft = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t / temperature, -1), log_target=True, reduction="batchmean")
    return alpha * soft * temperature**2 + (1 - alpha) * F.cross_entropy(s, y)


def distill_hard_on_softened(s, t, y, temperature, alpha):  # the labels' cross-entropy on the softened logits too
    return alpha * _kl(s, t, temperature) * temperature**2 + (1 - alpha) * F.cross_entropy(s / temperature, y)


def distill_python_float(s, t, y, temperature, alpha):
    return ref("08.2")(s, t, y, temperature, alpha).item()


def distill_detached(s, t, y, temperature, alpha):
    return ref("08.2")(s.detach(), t, y, temperature, alpha)


def distill_per_example(s, t, y, temperature, alpha):  # reduction='none': one loss per example
    return alpha * _kl(s, t, temperature, "none").sum(-1) * temperature**2 + (1 - alpha) * F.cross_entropy(
        s, y, reduction="none")


# ------------------------------------------------------------------ 08.3
def validate_with_service(payload, max_texts, max_chars):  # right: the service's own check, its error re-raised
    from helpers.serve import Limits, RequestError, validate_request

    try:
        return validate_request(payload, Limits(max_texts=max_texts, max_chars=max_chars))
    except RequestError as error:
        raise ValueError(error.message) from None


class RequestInvalid(ValueError):
    """A ValueError subclass, as pydantic's ValidationError is."""


def validate_tuple(payload, max_texts, max_chars):  # right: another order of checks, a tuple, a ValueError subclass
    try:
        (key, value), = payload.items()
    except (AttributeError, ValueError):
        raise RequestInvalid('send a JSON object with exactly one field, "text" or "texts"') from None
    if key not in ("text", "texts") or (key == "text") != isinstance(value, str) or (key == "texts") != isinstance(
            value, list):
        raise RequestInvalid('send {"text": "a review"} or {"texts": ["a review", ...]}')
    texts = (value,) if key == "text" else tuple(value)
    problems = [i for i, text in enumerate(texts) if not isinstance(text, str) or text.isspace() or not text
                or len(text) > max_chars]
    if not 1 <= len(texts) <= max_texts or problems:
        raise RequestInvalid(f"send 1 to {max_texts} non-blank texts of at most {max_chars} characters")
    return texts


def _texts_of(payload):
    return [payload["text"]] if "text" in payload else payload["texts"]


def validate_no_type_check(payload, max_texts, max_chars):
    if not isinstance(payload, dict) or set(payload) - {"text", "texts"} or len(payload) != 1:
        raise ValueError("send text or texts")
    texts = _texts_of(payload)
    if not isinstance(texts, list) or not texts or len(texts) > max_texts:
        raise ValueError("bad number of texts")
    if any(not text.strip() or len(text) > max_chars for text in texts):  # .strip() on a number: AttributeError
        raise ValueError("bad text")
    return texts


def validate_no_blank_check(payload, max_texts, max_chars):
    if not isinstance(payload, dict) or set(payload) - {"text", "texts"} or len(payload) != 1:
        raise ValueError("send text or texts")
    texts = _texts_of(payload)
    if not isinstance(texts, list) or not texts or len(texts) > max_texts:
        raise ValueError("bad texts")
    if any(not isinstance(t, str) or len(t) > max_chars for t in texts):
        raise ValueError("bad text")
    return texts


def validate_strips_spaces_only(payload, max_texts, max_chars):  # strip(" "): tabs, newlines, full-width spaces pass
    if not isinstance(payload, dict) or set(payload) - {"text", "texts"} or len(payload) != 1:
        raise ValueError("send text or texts")
    texts = _texts_of(payload)
    if not isinstance(texts, list) or not texts or len(texts) > max_texts:
        raise ValueError("bad texts")
    if any(not isinstance(t, str) or not t.strip(" ") or len(t) > max_chars for t in texts):
        raise ValueError("bad text")
    return texts


def validate_silent_error(payload, max_texts, max_chars):
    texts = [payload.get("text")] if isinstance(payload, dict) and "text" in payload else None
    if texts is None and isinstance(payload, dict) and isinstance(payload.get("texts"), list):
        texts = payload["texts"]
    if (not texts or len(texts) > max_texts or set(payload) - {"text", "texts"} or len(payload) != 1
            or any(not isinstance(t, str) or not t.strip() or len(t) > max_chars for t in texts)):
        raise ValueError("")
    return texts


def validate_off_by_one(payload, max_texts, max_chars):  # >= where > is meant: the limits themselves refused
    texts = ref("08.3")(payload, max_texts, max_chars)
    if len(texts) >= max_texts or any(len(text) >= max_chars for text in texts):
        raise ValueError(f"at most {max_texts} texts of at most {max_chars} characters")
    return texts


def validate_fixed_limits(payload, max_texts, max_chars):  # the lesson's limits written in, the arguments ignored
    return ref("08.3")(payload, 4, 20)


def validate_text_may_be_a_list(payload, max_texts, max_chars):
    if isinstance(payload, dict) and isinstance(payload.get("text"), list):
        payload = {"texts": payload["text"]}
    return ref("08.3")(payload, max_texts, max_chars)


def validate_both_fields(payload, max_texts, max_chars):  # "text" wins when both are sent
    if isinstance(payload, dict) and "text" in payload:
        payload = {key: value for key, value in payload.items() if key != "texts"}
    return ref("08.3")(payload, max_texts, max_chars)


def validate_returns_payload(payload, max_texts, max_chars):
    return payload


def validate_key_error(payload, max_texts, max_chars):  # reads a field before checking it is there: KeyError, a 500
    if not payload["texts" if "texts" in payload else "text"]:
        raise ValueError("send at least one non-empty text")
    return ref("08.3")(payload, max_texts, max_chars)


# ------------------------------------------------------------------ 08.4
def head_from_layers(hidden_size, head_size):  # right: count the slices as nn.Linear layers of the right shapes
    from torch import nn

    query_key_value = 3 * sum(p.numel() for p in nn.Linear(hidden_size, head_size).parameters())
    output_columns = nn.Linear(head_size, hidden_size, bias=False).weight.numel()
    return query_key_value + output_columns


def head_numpy_float(hidden_size, head_size):  # right: a NumPy float from a formula written differently
    return np.float64(head_size * (4 * hidden_size + 3))


def head_no_biases(hidden_size, head_size):
    return 3 * hidden_size * head_size + hidden_size * head_size


def head_no_output(hidden_size, head_size):
    return 3 * (hidden_size * head_size + head_size)


def head_qkv_weights_only(hidden_size, head_size):
    return 3 * hidden_size * head_size


def head_output_bias_per_head(hidden_size, head_size):  # the output projection as if it lost rows and their biases
    return 4 * (hidden_size * head_size + head_size)


def head_output_bias_counted(hidden_size, head_size):
    return ref("08.4")(hidden_size, head_size) + hidden_size


def head_swapped(hidden_size, head_size):
    return ref("08.4")(head_size, hidden_size)


def head_whole_layer(hidden_size, head_size):
    return 4 * (hidden_size * hidden_size + hidden_size)


def head_guess(hidden_size, head_size):
    return 2 * hidden_size * head_size + 7


def head_string(hidden_size, head_size):
    return f"{ref('08.4')(hidden_size, head_size):,}"


# ------------------------------------------------------------------ 09.1
def _permutation(n, seed, epoch):
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()


def shard_numpy(n, rank, world, seed, epoch):  # right: a NumPy array
    return np.array(_permutation(n, seed, epoch)[: n // world * world][rank::world])


def shard_sampler(n, rank, world, seed, epoch):  # right: the library itself, as a tensor
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), dtype=torch.long)


def shard_seeded_by_rank(n, rank, world, seed, epoch):
    return _permutation(n, seed + rank, epoch)[: n // world]


def shard_padded_like_default_sampler(n, rank, world, seed, epoch):
    perm = _permutation(n, seed, epoch)
    per_rank = -(-n // world)
    perm += perm[: per_rank * world - n]
    return perm[rank::world]


def shard_contiguous_blocks(n, rank, world, seed, epoch):
    perm = _permutation(n, seed, epoch)[: n // world * world]
    size = n // world
    return perm[rank * size:(rank + 1) * size]


def shard_unshuffled(n, rank, world, seed, epoch):
    return list(range(n // world * world))[rank::world]


def shard_ignores_epoch(n, rank, world, seed, epoch):
    return _permutation(n, seed, 0)[: n // world * world][rank::world]


def shard_drops_first(n, rank, world, seed, epoch):
    return _permutation(n, seed, epoch)[n % world:][rank::world]


def shard_string(n, rank, world, seed, epoch):
    return "0,1,2"


def shard_out_of_range(n, rank, world, seed, epoch):
    return [n + 5]


def shard_divides_by_zero(n, rank, world, seed, epoch):
    return 1 / 0


# ------------------------------------------------------------------ 09.2
def adam_floats(n, mixed):  # right: floats from a table of bytes per parameter
    per = {"weights": (4.0, 2.0), "gradients": (4.0, 2.0), "optimizer_states": (8.0, 12.0)}
    return {key: value[int(bool(mixed))] * n for key, value in per.items()}


def adam_numpy(n, mixed):  # right: NumPy integers
    return {key: np.int64(value) for key, value in ref("09.2")(n, mixed).items()}


def adam_mixed_without_master(n, mixed):
    return ({"weights": 2 * n, "gradients": 2 * n, "optimizer_states": 8 * n} if mixed
            else {"weights": 4 * n, "gradients": 4 * n, "optimizer_states": 8 * n})


def adam_everything_halved(n, mixed):
    per = (2, 2, 4) if mixed else (4, 4, 8)
    return dict(zip(("weights", "gradients", "optimizer_states"), (p * n for p in per)))


def adam_one_moment(n, mixed):
    return {"weights": 4 * n, "gradients": 4 * n, "optimizer_states": 4 * n}


def adam_mixed_keeps_fp32_weights(n, mixed):
    return {"weights": 4 * n, "gradients": 4 * n, "optimizer_states": 12 * n} if mixed else \
        {"weights": 4 * n, "gradients": 4 * n, "optimizer_states": 8 * n}


def adam_bits(n, mixed):
    return {key: 8 * value for key, value in ref("09.2")(n, mixed).items()}


def adam_master_in_fp32_too(n, mixed):
    return dict(ref("09.2")(n, mixed), optimizer_states=12 * n)


def adam_total(n, mixed):
    return 16 * n


def adam_strings(n, mixed):
    return {"weights": "4n", "gradients": 0, "optimizer_states": 0}


# ------------------------------------------------------------------ 09.3
def _zero_parts(n):
    return 2 * n, 2 * n, 12 * n


def zero_whole_bytes(n, gpus, stage):  # right: every shard rounded up to whole bytes
    import math

    w, g, s = _zero_parts(n)
    return (math.ceil(w / gpus) if stage >= 3 else w) + (math.ceil(g / gpus) if stage >= 2 else g) + \
        (math.ceil(s / gpus) if stage >= 1 else s)


def zero_numpy(n, gpus, stage):  # right: a NumPy number from a table of divisors
    divisors = np.array([[1, 1, 1], [1, 1, gpus], [1, gpus, gpus], [gpus, gpus, gpus]][stage], dtype=np.float64)
    return (np.array(_zero_parts(n), dtype=np.float64) / divisors).sum()


def zero_stage1_shards_gradients(n, gpus, stage):
    w, g, s = _zero_parts(n)
    return w + (g / gpus if stage >= 1 else g) + (s / gpus if stage >= 1 else s) if stage < 3 else (w + g + s) / gpus


def zero_everything_divided_from_stage1(n, gpus, stage):
    return 16 * n / gpus if stage >= 1 else 16 * n


def zero_stage2_shards_weights(n, gpus, stage):
    w, g, s = _zero_parts(n)
    if stage == 2:
        return (w + g + s) / gpus
    return [16 * n, w + g + s / gpus, 0, (w + g + s) / gpus][stage]


def zero_stage3_keeps_weights(n, gpus, stage):
    w, g, s = _zero_parts(n)
    return [w + g + s, w + g + s / gpus, w + (g + s) / gpus, w + (g + s) / gpus][stage]


def zero_stage0_divides(n, gpus, stage):
    return 16 * n / gpus if stage == 0 else ref("09.3")(n, gpus, stage)


def zero_fp32_bytes(n, gpus, stage):
    w, g, s = 4 * n, 4 * n, 8 * n
    return (w / gpus if stage >= 3 else w) + (g / gpus if stage >= 2 else g) + (s / gpus if stage >= 1 else s)


def zero_none(n, gpus, stage):
    return None


def zero_tensor_pair(n, gpus, stage):
    return torch.tensor([1.0, 2.0])


# ------------------------------------------------------------------ 09.4
def batch_numpy_list(b, a, p, lr, base):  # right: NumPy numbers in a list
    return [np.int64(b * a * p), np.float64(lr * b * a * p / base)]


def batch_tensor(b, a, p, lr, base):  # right: one-element tensors (float64 for the learning rate)
    effective = torch.tensor(b * a * p)
    return effective, torch.tensor(lr, dtype=torch.float64) * effective / base


def batch_no_processes(b, a, p, lr, base):
    return b * a, lr * b * a / base


def batch_no_accumulation(b, a, p, lr, base):
    return b * p, lr * b * p / base


def batch_lr_unscaled(b, a, p, lr, base):
    return b * a * p, lr


def batch_square_root(b, a, p, lr, base):
    return b * a * p, lr * (b * a * p / base) ** 0.5


def batch_lr_times_processes(b, a, p, lr, base):
    return b * a * p, lr * p


def batch_upside_down(b, a, p, lr, base):
    return b * a * p, lr * base / (b * a * p)


def batch_one_number(b, a, p, lr, base):
    return b * a * p


def batch_nan(b, a, p, lr, base):
    return float("nan"), lr


# ------------------------------------------------------------------ 11.1
import math as _math  # noqa: E402


def _scores(q, k, scale):
    return q @ k.transpose(-2, -1) / scale


def _causal_fill(scores, causal, diagonal=0, upper=False, value=float("-inf")):
    if not causal:
        return scores
    ones = torch.ones(scores.shape[-2:], dtype=torch.bool)
    allowed = ones.triu(diagonal) if upper else ones.tril(diagonal)
    return scores.masked_fill(~allowed, value)


def attention_sdpa(q, k, v, causal=False):  # right: the library for the output, weights from finfo.min
    scores = _causal_fill(_scores(q, k, _math.sqrt(q.shape[-1])), causal, value=torch.finfo(q.dtype).min)
    mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril() if causal else None
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), torch.softmax(scores, -1)


def attention_float64_large_negative(q, k, v, causal=False):  # right: float64 inside, -1e9 as the fill
    weights = torch.softmax(_causal_fill(_scores(q.double(), k.double(), q.shape[-1] ** 0.5), causal, value=-1e9), -1)
    return weights @ v.double(), weights


def _attend(scores, v, causal, **fill):
    weights = torch.softmax(_causal_fill(scores, causal, **fill), -1)
    return weights @ v, weights


def attention_unscaled(q, k, v, causal=False):
    scores = q @ k.transpose(-2, -1)
    if causal:
        scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool).tril(), float("-inf"))
    weights = torch.softmax(scores, -1)
    return weights @ v, weights


def attention_divides_by_d_k(q, k, v, causal=False):
    return _attend(_scores(q, k, q.shape[-1]), v, causal)


def attention_softmax_over_queries(q, k, v, causal=False):
    weights = torch.softmax(q @ k.transpose(-2, -1) / _math.sqrt(q.shape[-1]), dim=-2)
    return weights @ v, weights


def attention_future_not_past(q, k, v, causal=False):
    scores = q @ k.transpose(-2, -1) / _math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool).triu(), float("-inf"))
    weights = torch.softmax(scores, -1)
    return weights @ v, weights


def attention_mask_after_softmax(q, k, v, causal=False):
    weights = torch.softmax(q @ k.transpose(-2, -1) / _math.sqrt(q.shape[-1]), -1)
    if causal:
        weights = weights * torch.ones(weights.shape[-2:]).tril()
    return weights @ v, weights


def attention_no_diagonal(q, k, v, causal=False):
    scores = q @ k.transpose(-2, -1) / _math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool).tril(-1), float("-inf"))
    weights = torch.softmax(scores, -1)
    return weights @ v, weights


def attention_always_causal(q, k, v, causal=False):
    return ref("11.1")(q, k, v, True)


def attention_output_from_scores(q, k, v, causal=False):
    output, weights = ref("11.1")(q, k, v, causal)
    return _causal_fill(_scores(q, k, _math.sqrt(q.shape[-1])), causal, value=0.0) @ v, weights


def attention_output_only(q, k, v, causal=False):
    from helpers import mechanisms

    return mechanisms.attention(q, k, v, causal)[0]


# ------------------------------------------------------------------ 11.2
def _positions(ids, start=0):
    return torch.arange(start, start + ids.shape[1])


def embed_module(emb, ids, types):  # right: the module itself
    return emb(input_ids=ids, token_type_ids=types)


def embed_float64(emb, ids, types):  # right: float64 throughout, positions from the module's buffer
    summed = (F.embedding(ids, emb.word_embeddings.weight.double())
              + F.embedding(emb.position_ids[:, : ids.shape[1]], emb.position_embeddings.weight.double())
              + F.embedding(types, emb.token_type_embeddings.weight.double()))
    norm = emb.LayerNorm
    return F.layer_norm(summed, norm.normalized_shape, norm.weight.double(), norm.bias.double(), norm.eps)


def embed_no_layernorm(emb, ids, types):
    return emb.word_embeddings(ids) + emb.position_embeddings(torch.arange(ids.shape[1]))[None] + emb.token_type_embeddings(types)


def embed_no_positions(emb, ids, types):
    return emb.LayerNorm(emb.word_embeddings(ids) + emb.token_type_embeddings(types))


def embed_no_segments(emb, ids, types):
    return emb.LayerNorm(emb.word_embeddings(ids) + emb.position_embeddings(torch.arange(ids.shape[1]))[None])


def embed_positions_from_one(emb, ids, types):
    return emb.LayerNorm(emb.word_embeddings(ids) + emb.position_embeddings(_positions(ids, 1))[None]
                         + emb.token_type_embeddings(types))


def embed_segment_zero(emb, ids, types):
    return ref("11.2")(emb, ids, torch.zeros_like(types))


def embed_layer_norm_without_weights(emb, ids, types):
    summed = (emb.word_embeddings(ids) + emb.position_embeddings(_positions(ids))[None]
              + emb.token_type_embeddings(types))
    return F.layer_norm(summed, summed.shape[-1:], eps=emb.LayerNorm.eps)


def embed_cls_only(emb, ids, types):
    return emb.word_embeddings(ids)[:, 0]


# ------------------------------------------------------------------ 11.3
def _position_of(tokenizer, sentence, char):
    encoded = tokenizer(sentence, return_tensors="pt")
    return encoded, encoded["input_ids"][0].tolist().index(tokenizer.convert_tokens_to_ids(char))


def vectors_course(model, tokenizer, sentence, char):  # right: the course helper
    from helpers.mechanisms import static_and_contextual

    return static_and_contextual(model, tokenizer, sentence, char)


def vectors_hidden_states_with_grad(model, tokenizer, sentence, char):  # right: (1, hidden) rows, with gradients
    encoded, position = _position_of(tokenizer, sentence, char)
    output = model(**encoded, output_hidden_states=True)
    char_id = torch.tensor([tokenizer.convert_tokens_to_ids(char)])
    return model.get_input_embeddings()(char_id), output.hidden_states[-1][:, position]


def _contextual(model, encoded):
    with torch.no_grad():
        return model(**encoded).last_hidden_state[0]


def vectors_static_with_positions(model, tokenizer, sentence, char):
    from helpers import mechanisms

    static, contextual = mechanisms.static_and_contextual(model, tokenizer, sentence, char)
    encoded = tokenizer(sentence, return_tensors="pt")
    position = encoded["input_ids"][0].tolist().index(tokenizer.convert_tokens_to_ids(char))
    with torch.no_grad():
        return model.embeddings(input_ids=encoded["input_ids"])[0, position], contextual


def vectors_cls(model, tokenizer, sentence, char):
    from helpers import mechanisms

    static, _ = mechanisms.static_and_contextual(model, tokenizer, sentence, char)
    with torch.no_grad():
        return static, model(**tokenizer(sentence, return_tensors="pt")).last_hidden_state[0, 0]


def vectors_sentence_index(model, tokenizer, sentence, char):
    from helpers import mechanisms

    static, _ = mechanisms.static_and_contextual(model, tokenizer, sentence, char)
    with torch.no_grad():
        return static, model(**tokenizer(sentence, return_tensors="pt")).last_hidden_state[0, sentence.index(char)]


def vectors_last_occurrence(model, tokenizer, sentence, char):
    static, _ = ref("11.3")(model, tokenizer, sentence, char)
    encoded = tokenizer(sentence, return_tensors="pt")
    ids = encoded["input_ids"][0].tolist()
    last = len(ids) - 1 - ids[::-1].index(tokenizer.convert_tokens_to_ids(char))
    return static, _contextual(model, encoded)[last]


def vectors_sentence_mean(model, tokenizer, sentence, char):
    static, _ = ref("11.3")(model, tokenizer, sentence, char)
    return static, _contextual(model, tokenizer(sentence, return_tensors="pt")).mean(0)


def vectors_swapped(model, tokenizer, sentence, char):
    static, contextual = ref("11.3")(model, tokenizer, sentence, char)
    return contextual, static


def vectors_contextual_only(model, tokenizer, sentence, char):
    from helpers import mechanisms

    return mechanisms.static_and_contextual(model, tokenizer, sentence, char)[1]


# ------------------------------------------------------------------ 11.4
from torch import nn  # noqa: E402

from helpers.mechanisms import LoRALinear as _CourseLoRA  # noqa: E402


class LoRANormalA(nn.Module):
    """Right, another way: A from a normal distribution, F.linear, merge built from a state dict."""

    def __init__(self, base, r, alpha):
        super().__init__()
        base.requires_grad_(False)
        self.base, self.scale = base, alpha / r
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) / r)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale

    def merge(self):
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        state = {key: value.detach().clone() for key, value in self.base.state_dict().items()}
        state["weight"] = state["weight"] + self.scale * (self.lora_B @ self.lora_A).detach()
        merged.load_state_dict(state)
        return merged


class LoRAScaledByAlpha(_CourseLoRA):
    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling * self.r


class LoRAScaledROverAlpha(_CourseLoRA):
    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) / self.scaling


class LoRARandomB(_CourseLoRA):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        nn.init.normal_(self.lora_B)


class LoRAZeroA(_CourseLoRA):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        nn.init.zeros_(self.lora_A)


class LoRABaseNotFrozen(_CourseLoRA):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        base.weight.requires_grad = True


class LoRATransposed(_CourseLoRA):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        self.lora_A = nn.Parameter(torch.zeros(base.in_features, r))
        self.lora_B = nn.Parameter(torch.zeros(r, base.out_features))


class LoRAWithoutBase(_CourseLoRA):
    def forward(self, x):
        return (x @ self.lora_A.T @ self.lora_B.T) * self.scaling


class LoRAMergeWithoutScaling(_CourseLoRA):
    def merge(self):
        merged = super().merge()
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.lora_B @ self.lora_A)
        return merged


class LoRAMergeWithoutBias(_CourseLoRA):
    def merge(self):
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=False)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
        return merged


class LoRAMergeInPlace(_CourseLoRA):
    def merge(self):
        with torch.no_grad():
            self.base.weight += self.scaling * self.lora_B @ self.lora_A
        return self.base


# ------------------------------------------------------------------ 11.5
def stats_course(tokenizer, texts):  # right: the course helper
    from helpers.mechanisms import token_stats

    return token_stats(tokenizer, texts)


def stats_token_strings(tokenizer, texts):  # right: tokenize() and the [UNK] string, NumPy results
    tokens = [tokenizer.tokenize(text) for text in texts]
    flat = [token for row in tokens for token in row]
    return {"tokens_per_text": np.float64(len(flat) / len(texts)),
            "unk_rate": np.float32(flat.count(tokenizer.unk_token) / len(flat))}


def stats_with_special_tokens(tokenizer, texts):
    ids = [tokenizer(t)["input_ids"] for t in texts]
    n = sum(map(len, ids))
    return {"tokens_per_text": n / len(texts), "unk_rate": sum(i == tokenizer.unk_token_id for r in ids for i in r) / n}


def stats_characters(tokenizer, texts):
    return dict(ref("11.5")(tokenizer, texts), tokens_per_text=sum(map(len, texts)) / len(texts))


def stats_unk_per_character(tokenizer, texts):
    from helpers import mechanisms

    stats = mechanisms.token_stats(tokenizer, texts)
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    unknown = sum(i == tokenizer.unk_token_id for r in ids for i in r)
    return {**stats, "unk_rate": unknown / sum(map(len, texts))}


def stats_unk_count(tokenizer, texts):
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    return dict(ref("11.5")(tokenizer, texts), unk_rate=sum(i == tokenizer.unk_token_id for r in ids for i in r))


def stats_unk_rate_per_text(tokenizer, texts):
    rates = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if ids:
            rates.append(sum(i == tokenizer.unk_token_id for i in ids) / len(ids))
    return dict(ref("11.5")(tokenizer, texts), unk_rate=sum(rates) / len(rates))


def stats_list(tokenizer, texts):
    from helpers import mechanisms

    return list(mechanisms.token_stats(tokenizer, texts).values())


# ------------------------------------------------------------------ 11.6
_TEMPLATE = "。总之，这个很[MASK]。"


def prompt_course(review, tokenizer, max_length):  # right: the course helper
    from helpers.mechanisms import prompt_ids

    return prompt_ids(review, tokenizer, max_length)


def prompt_tensor(review, tokenizer, max_length):  # right: a (1, n) tensor, the review truncated by the tokenizer
    template = tokenizer(_TEMPLATE, add_special_tokens=False)["input_ids"]
    room = max_length - 2 - len(template)
    body = tokenizer(review, add_special_tokens=False, truncation=True, max_length=room)["input_ids"] if room else []
    return torch.tensor([[tokenizer.cls_token_id] + body + template + [tokenizer.sep_token_id]])


def prompt_truncate_everything(review, tokenizer, max_length):
    from helpers import mechanisms

    return tokenizer(review + mechanisms.CLOZE_TEMPLATE, truncation=True, max_length=max_length)["input_ids"]


def prompt_template_first(review, tokenizer, max_length):
    from helpers import mechanisms

    template = tokenizer(mechanisms.CLOZE_TEMPLATE, add_special_tokens=False)["input_ids"]
    body = tokenizer(review, add_special_tokens=False)["input_ids"][: max_length - 2 - len(template)]
    return [tokenizer.cls_token_id] + template + body + [tokenizer.sep_token_id]


def prompt_no_special_tokens(review, tokenizer, max_length):
    from helpers import mechanisms

    return mechanisms.prompt_ids(review, tokenizer, max_length)[1:-1]


def prompt_no_truncation(review, tokenizer, max_length):
    from helpers import mechanisms

    return mechanisms.prompt_ids(review, tokenizer, 10_000)


def prompt_room_for_specials_forgotten(review, tokenizer, max_length):
    return ref("11.6")(review, tokenizer, max_length + 2)


def prompt_cuts_characters(review, tokenizer, max_length):
    template = tokenizer(_TEMPLATE, add_special_tokens=False)["input_ids"]
    body = tokenizer(review[: max_length - 2 - len(template)], add_special_tokens=False)["input_ids"]
    return [tokenizer.cls_token_id] + body + template + [tokenizer.sep_token_id]


def prompt_as_pair(review, tokenizer, max_length):
    return tokenizer(review, _TEMPLATE, truncation="only_first", max_length=max_length)["input_ids"]


# ------------------------------------------------------------------ 11.7
def _events(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(logdir).Reload().Scalars(tag)


def scalars_course(logdir, tag):  # right: the course helper
    from helpers.mechanisms import read_scalars

    return read_scalars(logdir, tag)


def scalars_event_files(logdir, tag):  # right: the event files read one record at a time, NumPy arrays
    from pathlib import Path

    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    steps, values = [], []
    for path in sorted(Path(logdir).glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == tag:
                    steps.append(event.step)
                    values.append(value.simple_value if value.HasField("simple_value")
                                  else float(np.frombuffer(value.tensor.tensor_content, np.float32)[0])
                                  if value.tensor.tensor_content else value.tensor.float_val[0])
    return np.array(steps), np.array(values)


def scalars_wall_times(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(logdir).Reload().Scalars(tag)
    return [e.wall_time for e in events], [e.value for e in events]


def scalars_event_numbers(logdir, tag):
    events = _events(logdir, tag)
    return list(range(len(events))), [e.value for e in events]


def scalars_last_only(logdir, tag):
    from helpers import mechanisms

    steps, values = mechanisms.read_scalars(logdir, tag)
    return steps[-1:], values[-1:]


def scalars_other_tag(logdir, tag):
    from helpers import mechanisms

    return mechanisms.read_scalars(logdir, "train/learning_rate")


def scalars_swapped(logdir, tag):
    steps, values = ref("11.7")(logdir, tag)
    return values, steps


def scalars_dict(logdir, tag):
    from helpers import mechanisms

    return dict(zip(*mechanisms.read_scalars(logdir, tag)))


def scalars_pairs(logdir, tag):
    return [(e.step, e.value) for e in _events(logdir, tag)]


# ------------------------------------------------------------------ the tables the tests read
ALTERNATIVES = {  # correct answers written differently: each must pass
    "00.1": [unk_offsets], "01.1": [mask_exact_count], "01.2": [loss_float64, loss_by_hand], "01.3": [pack_tensor],
    "02.1": [pad_bool_mask_int32], "02.2": [metrics_by_hand], "02.3": [predict_one_by_one],
    "03.1": [count_list], "03.2": [freeze_by_exact_names, freeze_also_pooler],
    "03.3": [lora_regex, lora_modules_to_save], "04.1": [StopCounter], "04.2": [augment_per_character, augment_helper],
    "04.3": [(fgm_attack_dict, fgm_restore_dict)], "05.1": [top_k_exactly_k, top_k_library],
    "05.2": [top_p_library, top_p_other_tie_break], "05.3": [temperature_float64],
    "05.4": [greedy_with_cache, greedy_generate_call], "06.1": [control_tensors, control_position_zero_unmasked], "06.2": [],
    "06.3": [copies_sliding_training],
    "07.1": [bio_library, bio_tuple_by_slices], "07.2": [spans_library, spans_lists_last_first],
    "07.3": [align_library, align_tensor], "07.4": [f1_seqeval, f1_numpy_counts],
    "08.1": [size_payload, size_in_memory, size_nbytes_tensor],
    "08.2": [distill_library, distill_by_hand_float64, distill_probability_target],
    "08.3": [validate_with_service, validate_tuple], "08.4": [head_from_layers, head_numpy_float],
    "09.1": [shard_numpy, shard_sampler], "09.2": [adam_floats, adam_numpy], "09.3": [zero_whole_bytes, zero_numpy],
    "09.4": [batch_numpy_list, batch_tensor], "11.1": [attention_sdpa, attention_float64_large_negative],
    "11.2": [embed_module, embed_float64], "11.3": [vectors_course, vectors_hidden_states_with_grad],
    "11.4": [_CourseLoRA, LoRANormalA], "11.5": [stats_course, stats_token_strings],
    "11.6": [prompt_course, prompt_tensor], "11.7": [scalars_course, scalars_event_files],
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
    "06.1": [(control_before_start, "begin with start_ids"), (control_only_start_masked, "only the start is masked"),
             (control_nothing_masked, "must be -100"), (control_labels_shifted, "shifted the labels by hand"),
             (control_no_sep, "[SEP]"), (control_no_truncation, "truncate"), (control_truncates_one_short, "as many"),
             (control_swapped_labels, "must be the control token"), (control_ids_only, "return a dict")],
    "06.2": [(distinct_per_text, "averaged per text"), (distinct_joined, "joined the texts"),
             (distinct_per_text_count, "expected"), (distinct_crashes_when_empty, "no bigram at all, return 0.0"),
             (distinct_string, "expected a number")],
    "06.3": [(copies_whole_text, "expected True"), (copies_misses_last, "inclusive"),
             (copies_aligned_chunks, "not a multiple of the window"), (copies_fixed_window, "window"),
             (copies_int, "True or False")],
    "07.1": [(bio_end_inclusive, "`end` is exclusive"),
             (bio_continue_same_type, "even right after another entity of the same type"),
             (bio_all_b, "Only the first character"), (bio_all_i, "starts with B-"), (bio_one_based, "count from 0"),
             (bio_one_short, "one tag per character"), (bio_string, "list of tag strings"),
             (bio_label_ids, "not label ids")],
    "07.2": [(spans_ignore_orphan_i, "(after O or at the start) still starts an entity"),
             (spans_inclusive_end, "`end` must be exclusive"),
             (spans_merge_b_b, "A B- tag always starts a new entity"), (spans_forgets_last, "still open"),
             (spans_type_switch_continues, "the type changed"), (spans_start_end_type, "put the type first"),
             (spans_prefixed_type, "without its prefix"), (spans_string, "list of (type, start, end)")],
    "07.3": [(align_every_piece, "later piece of word"), (align_zero_for_specials, "is a special token"),
             (align_per_word, "one per token, special tokens included"), (align_last_piece, "FIRST piece"),
             (align_minus_one, "ignore_index"), (align_all_pieces_i, "later piece of word")],
    "07.4": [(f1_token_accuracy, "That is token accuracy"), (f1_overlap_counts, "type AND both boundaries"),
             (f1_per_sentence_average, "pool the counts"), (f1_macro, "(macro)"),
             (f1_precision_only, "precision alone"), (f1_recall_only, "recall alone"),
             (f1_strict_reading, "starts one, as seqeval reads it"), (f1_word, "expected a number")],
    "08.1": [(size_elements, "that is the number of elements"), (size_four_bytes_each, "4 bytes for every element"),
             (size_dtype_table, "the file has"), (size_bits, "BITS"), (size_megabytes, "not kilobytes or megabytes"),
             (size_first_tensor, "only one tensor"), (size_string, "expected a number")],
    "08.2": [(distill_no_t_squared, "by T²"), (distill_reversed_kl, "wrong way"),
             (distill_mean_reduction, "'mean' also divides"), (distill_sum_reduction, "'sum' adds it up"),
             (distill_swapped_alpha, "swapped them"), (distill_teacher_not_softened, "Soften the teacher"),
             (distill_student_not_softened, "Soften the student"), (distill_hard_on_softened, "RAW logits"),
             (distill_python_float, "one-element tensor"), (distill_detached, "no gradient"),
             (distill_per_example, "one-element tensor")],
    "08.3": [(validate_no_type_check, "becomes a 500"), (validate_no_blank_check, "an empty text"),
             (validate_strips_spaces_only, "only whitespace"), (validate_silent_error, "without a message"),
             (validate_off_by_one, "limits are inclusive"),
             (validate_fixed_limits, "limits passed as arguments"),
             (validate_text_may_be_a_list, '"text" holding a list'), (validate_both_fields, 'both "text" and "texts"'),
             (validate_returns_payload, "return the texts"), (validate_key_error, "KeyError")],
    "08.4": [(head_no_biases, "left out the biases"), (head_no_output, "left out the output projection"),
             (head_qkv_weights_only, "count the biases"), (head_output_bias_per_head, "its bias has one entry"),
             (head_output_bias_counted, "its bias has one entry"), (head_swapped, "swapped the arguments"),
             (head_whole_layer, "whole attention layer"), (head_guess, "owns head_size rows"),
             (head_string, "expected a number")],
    "09.1": [(shard_seeded_by_rank, "overlap"), (shard_padded_like_default_sampler, "shard sizes"),
             (shard_contiguous_blocks, "contiguous block"), (shard_unshuffled, "not shuffled"),
             (shard_ignores_epoch, "same order"), (shard_drops_first, "FIRST n % world_size"),
             (shard_string, "list of int"), (shard_out_of_range, "outside range"),
             (shard_divides_by_zero, "ZeroDivisionError")],
    "09.2": [(adam_mixed_without_master, "master copy"), (adam_everything_halved, "stay in fp32"),
             (adam_one_moment, "two moments"), (adam_mixed_keeps_fp32_weights, "are fp16: 2 bytes"),
             (adam_bits, "BITS"), (adam_master_in_fp32_too, "no separate master copy"),
             (adam_total, "exactly the keys"), (adam_strings, "finite number")],
    "09.3": [(zero_stage1_shards_gradients, "stage 1 shards the optimizer states only"),
             (zero_everything_divided_from_stage1, "only stage 3 also splits the weights"),
             (zero_stage2_shards_weights, "stage 2 keeps a full copy of the weights"),
             (zero_stage3_keeps_weights, "stage 3 (FSDP's full sharding) splits the weights too"),
             (zero_stage0_divides, "plain data parallelism"), (zero_fp32_bytes, "mixed precision: weights 2"),
             (zero_none, "finite number"), (zero_tensor_pair, "one number")],
    "09.4": [(batch_no_processes, "multiply by the processes too"),
             (batch_no_accumulation, "accumulation_steps micro-batches"),
             (batch_lr_unscaled, "must grow with the batch"), (batch_square_root, "square-root rule"),
             (batch_lr_times_processes, "not by the number of processes"), (batch_upside_down, "upside down"),
             (batch_one_number, "return a pair"), (batch_nan, "finite number")],
    "11.1": [(attention_unscaled, "divide q k^T by sqrt(d_k)"), (attention_divides_by_d_k, "you divided by d_k"),
             (attention_softmax_over_queries, "softmax over the last dimension"),
             (attention_future_not_past, "use tril, not triu"), (attention_mask_after_softmax, "after the softmax"),
             (attention_no_diagonal, "keep the diagonal"), (attention_always_causal, "mask only when causal"),
             (attention_output_from_scores, "output = weights @ v"), (attention_output_only, "return a pair")],
    "11.2": [(embed_no_layernorm, "applies embeddings.LayerNorm"),
             (embed_no_positions, "position embeddings are missing"),
             (embed_no_segments, "segment embeddings are missing"), (embed_positions_from_one, "count from 0"),
             (embed_segment_zero, "segment 0 for every token"),
             (embed_layer_norm_without_weights, "no learned weight and bias"),
             (embed_cls_only, "(batch, sequence, hidden)")],
    "11.3": [(vectors_static_with_positions, "must not depend on the sentence"), (vectors_cls, "which is [CLS]"),
             (vectors_sentence_index, "off by one"), (vectors_last_occurrence, "FIRST occurrence"),
             (vectors_sentence_mean, "mean over the sentence"), (vectors_swapped, "static: take"),
             (vectors_contextual_only, "return a pair")],
    "11.4": [(LoRAScaledByAlpha, "you scaled by alpha;"), (LoRAScaledROverAlpha, "r / alpha"),
             (LoRARandomB, "initialise B to zeros"), (LoRAZeroA, "A is all zeros"),
             (LoRABaseNotFrozen, "freeze the base layer"), (LoRATransposed, "lora_A must be (r, in_features)"),
             (LoRAWithoutBase, "at initialisation"), (LoRAMergeWithoutScaling, "W + (alpha / r) * B @ A"),
             (LoRAMergeWithoutBias, "copy the base layer's bias"), (LoRAMergeInPlace, "in place"),
             (_CourseLoRA(nn.Linear(2, 2), 1, 1), "pass the class")],
    "11.5": [(stats_with_special_tokens, "counted [CLS] and [SEP]"), (stats_characters, "characters per text"),
             (stats_unk_per_character, "share of TOKENS"), (stats_unk_count, "number of [UNK] tokens"),
             (stats_unk_rate_per_text, "over all tokens of all texts"), (stats_list, "return a dict")],
    "11.6": [(prompt_truncate_everything, "never the template"), (prompt_template_first, "AFTER the review"),
             (prompt_no_special_tokens, "start with [CLS]"), (prompt_no_truncation, "truncate the review so that"),
             (prompt_room_for_specials_forgotten, "truncate the review so that"),
             (prompt_cuts_characters, "TOKENS"), (prompt_as_pair, "one [SEP]")],
    "11.7": [(scalars_wall_times, "wall_time is the clock time"), (scalars_event_numbers, "count the events"),
             (scalars_last_only, "not only the last one"), (scalars_other_tag, "another tag"),
             (scalars_swapped, "swapped"), (scalars_dict, "return a pair"), (scalars_pairs, "return a pair")],
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
    if exercise_id == "11.4":  # a class is asked for: classes that build, forward or merge wrongly
        def no_parameters_init(self, base, r, alpha):
            nn.Module.__init__(self)

        answers = functions + [type("NoParameters", (nn.Module,), {"__init__": no_parameters_init}),
                               type("RaisesInInit", (), {"__init__": raising}),
                               type("MergeIsNotAMethod", (_CourseLoRA,), {"merge": 3}),
                               type("ForwardRaises", (_CourseLoRA,), {"forward": raising})]
        for value in values:
            answers.append(type("JunkForward", (_CourseLoRA,), {"forward": lambda self, x, v=value: v}))
            answers.append(type("JunkMerge", (_CourseLoRA,), {"merge": lambda self, v=value: v}))
        return answers
    if exercise_id == "04.3":
        attack, restore = ref("04.3")
        return [(f, restore) for f in functions[:-1]] + [(attack, f) for f in functions[:-1]] + [attack, ("a", "b")]
    return functions
