"""Sentiment-controlled review generation with course-gpt: which recipe makes the control token obeyed (lesson 06).

Two steps, each saved as it ends:

    python bench/gpt_control.py judge --max-length 64 --lr 2e-4          # the BERT judge, saved to runs/
    python bench/gpt_control.py finetune --name base --lr 5e-4 --epochs 1 --max-length 64 --alphas 1 0.5

and a third that samples a saved run again under other settings, e.g. classifier-free guidance (the control-token
prompts guided against the opposite token's prompt at scale g; see helpers.control_codes.generate_texts):

    python bench/gpt_control.py sample --name replay20-e3 --bert-judge runs/judge-bert-64 \\
        --settings '{"top_p": 0.9, "top_k": 0, "repetition_penalty": 1.2}' \\
        '{"top_p": 0.9, "top_k": 0, "repetition_penalty": 1.2, "guidance_scale": 1.5}' \\
        '{"top_p": 0.9, "top_k": 0, "repetition_penalty": 1.2, "guidance_scale": 3.0}'

``finetune`` fine-tunes course-gpt on the 13,891 training reviews with control tokens (the lesson's code:
helpers/control_codes.py), optionally with a share of People's Daily training text replayed, then for each
interpolation weight ``alpha`` between the starting and the fine-tuned weights (1 = the fine-tuned model) measures:
held-out review perplexity (validation reviews, control token given), held-out news perplexity (the checkpoint
record's blocks), and for [POS], [NEG] and no control token the share of generated reviews each judge calls
positive, with distinct-2 and the verbatim-copy rate. Results: bench/results/gpt_control.json, one entry per name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import BertForSequenceClassification, GPT2LMHeadModel, Trainer

from helpers.baselines import tfidf_classifier
from helpers.checkpoints import read_record
from helpers.classification import (FineTuneSettings, evaluate_classifier, predict_logits, tokenize_dataset,
                                    train_classifier)
from helpers.control_codes import (CONTROL_TOKENS, RELATED_CHARACTERS, add_control_tokens, collator, encode_reviews,
                                   generative_predictions,
                                   generate_texts, interpolate_weights, per_class_accuracy, perplexity, replay_count,
                                   replay_examples, share_positive)
from helpers.data import load_pretraining_text, load_reviews
from helpers.env import hardware
from helpers.gpt_text import text_start_ids
from helpers.models import load_pretrained, load_tokenizer
from helpers.pretraining import evaluate_causal_lm, pack_blocks
from helpers.profiles import get_profile, set_seed
from helpers.text_metrics import copies_stretch, distinct_n
from helpers.training import training_arguments

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "gpt_control.json"
SAMPLING = dict(top_p=0.9, top_k=0, repetition_penalty=1.2)


def save(name: str, entry: dict) -> None:
    data = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    data[name] = entry
    RESULTS.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def judge_bert(args) -> dict:
    reviews = load_reviews()
    tokenizer = load_tokenizer("course-bert")
    train = tokenize_dataset(reviews["train"], tokenizer, args.max_length)
    validation = tokenize_dataset(reviews["validation"].select(range(args.validation)), tokenizer, args.max_length)
    test = tokenize_dataset(reviews["test"], tokenizer, args.max_length)
    set_seed(0)
    model = load_pretrained(BertForSequenceClassification, "course-bert", num_labels=2)
    result = train_classifier(model, train, validation, tokenizer,
                              FineTuneSettings(epochs=args.epochs, batch_size=32, learning_rate=args.lr,
                                               group_by_length=True, eval_every_steps=args.eval_every),
                              progress=False)
    predictions = predict_logits(model, test, tokenizer).argmax(-1)
    out = ROOT / "runs" / f"judge-bert-{args.max_length}"
    model.save_pretrained(out)
    return {"kind": "bert judge", "saved": str(out.relative_to(ROOT)), "max_length": args.max_length, "lr": args.lr,
            "epochs": args.epochs, "best_step": result.best_step, "seconds": round(result.seconds, 1),
            "validation_accuracy": result.best_validation_accuracy,
            "test_accuracy": evaluate_classifier(model, test, tokenizer)["accuracy"],
            "test_per_class": per_class_accuracy(reviews["test"]["label"], predictions), "history": result.history}


def controllability(model, tokenizer, start, judges, train_text, n, max_new_tokens) -> dict:
    """Samples per condition ([POS], [NEG], no control token), judged. With ``guidance_scale`` in the sampling
    settings, the control-token conditions use classifier-free guidance against the opposite token's prompt
    (``"negative": "opposite"``, the default) or against the prompt without a token (``"unconditioned"``); the
    no-token condition is always sampled plainly."""
    sampling = dict(SAMPLING)
    guidance_scale, negative = sampling.pop("guidance_scale", None), sampling.pop("negative", "opposite")
    if negative not in ("opposite", "unconditioned"):
        raise ValueError(f"negative must be 'opposite' or 'unconditioned', got {negative!r}")
    pos, neg = start + [tokenizer.convert_tokens_to_ids("[POS]")], start + [tokenizer.convert_tokens_to_ids("[NEG]")]
    rows = {}
    for name, prompt, opposite in (("POS", pos, neg), ("NEG", neg, pos), ("none", start, None)):
        guided = {}
        if guidance_scale is not None and opposite is not None:
            guided = dict(guidance_scale=guidance_scale,
                          negative_prompt_ids=opposite if negative == "opposite" else start)
        texts = generate_texts(model, tokenizer, prompt, n, max_new_tokens, seed=0, **sampling, **guided)
        long_enough = [t for t in texts if len(t) >= 20]
        rows[name] = {
            "judged_positive": {judge: share_positive(predict(texts)) for judge, predict in judges.items()},
            "distinct_2": distinct_n(texts, 2), "mean_chars": float(np.mean([len(t) for t in texts])),
            "copied_20": float(np.mean([copies_stretch(t, train_text, 20) for t in long_enough])) if long_enough else None,
            "examples": texts[:5],
        }
    return rows


def make_judges(args, reviews) -> dict:
    tfidf = tfidf_classifier(reviews["train"]["text"], reviews["train"]["label"])
    judges = {"tfidf": lambda texts: tfidf.predict(list(texts))}
    if args.bert_judge:
        from datasets import Dataset

        judge_tokenizer = load_tokenizer("course-bert")
        judge = load_pretrained(BertForSequenceClassification, ROOT / args.bert_judge, num_labels=2)

        def bert_predict(texts):
            data = tokenize_dataset(Dataset.from_dict({"text": list(texts)}), judge_tokenizer, args.judge_length)
            return predict_logits(judge, data, judge_tokenizer).argmax(-1)
        judges["bert"] = bert_predict
    return judges


def sample(args) -> dict:
    reviews = load_reviews()
    folder = ROOT / "runs" / f"gpt-{args.name}"
    tokenizer = load_tokenizer(folder)
    model = load_pretrained(GPT2LMHeadModel, folder)
    start = text_start_ids(tokenizer, "course-gpt")
    judges = make_judges(args, reviews)
    train_text = "\n".join(reviews["train"]["text"])
    predictions = generative_predictions(model, tokenizer, reviews["test"]["text"][:args.validation], start,
                                         args.max_length)
    out = {"generative_classifier_per_class": per_class_accuracy(reviews["test"]["label"][:args.validation],
                                                                 predictions)}
    print(out, flush=True)

    def every_setting(label: str) -> dict:
        """Controllability under each ``--settings`` entry, keyed by the setting's JSON."""
        global SAMPLING
        results = {}
        for setting in args.settings:
            SAMPLING = json.loads(setting)
            new_tokens = SAMPLING.pop("max_new_tokens", args.new_tokens)
            results[setting] = controllability(model, tokenizer, start, judges, train_text, args.samples, new_tokens)
            print(label, setting, {c: r["judged_positive"] | {"d2": round(r["distinct_2"], 3)}
                                   for c, r in results[setting].items()}, flush=True)
        return results

    if args.alphas == [1.0]:
        out.update(every_setting("alpha 1.0"))
        return {"kind": "sampling", "model": str(folder.relative_to(ROOT)), "results": out}
    # Weight interpolation towards the start (course-gpt with its control rows initialised as in finetune), then
    # the same perplexities as finetune and the controllability under every sampling setting.
    news = load_pretraining_text()
    heldout_news = pack_blocks(list(news["heldout"]["text"]), tokenizer, 256, wrap_cls_sep=False)
    heldout = encode_reviews(reviews["validation"].select(range(args.validation)), tokenizer, start, args.max_length)
    start_model = load_pretrained(GPT2LMHeadModel, "course-gpt")
    start_tokenizer = load_tokenizer("course-gpt")
    out["news_before"] = evaluate_causal_lm(start_model, heldout_news)["perplexity"]
    if args.init == "related":
        add_control_tokens(start_model, start_tokenizer, RELATED_CHARACTERS)
    else:
        raise SystemExit("sample --alphas needs the start state of a run initialised with --init related")
    if start_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise SystemExit(f"{folder} was not fine-tuned from course-gpt with the control tokens: cannot interpolate")
    start_state = {k: v.detach().clone() for k, v in start_model.state_dict().items()}
    fine_tuned = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out["alphas"] = {}
    for alpha in args.alphas:
        model.load_state_dict(fine_tuned)
        interpolate_weights(model, start_state, alpha)
        row = {"news": evaluate_causal_lm(model, heldout_news)["perplexity"],
               "reviews": perplexity(model, heldout, tokenizer)}
        print({"alpha": alpha, "news": row["news"], "reviews": row["reviews"]}, flush=True)
        row["settings"] = every_setting(f"alpha {alpha}")
        out["alphas"][str(alpha)] = row
    return {"kind": "sampling", "model": str(folder.relative_to(ROOT)), "results": out}


def finetune(args) -> dict:
    profile = get_profile("cpu")
    reviews, news = load_reviews(), load_pretraining_text()
    tokenizer = load_tokenizer("course-gpt")
    set_seed(0)
    model = load_pretrained(GPT2LMHeadModel, args.checkpoint)
    start = text_start_ids(tokenizer, args.checkpoint) if args.start else []
    heldout_news = pack_blocks(list(news["heldout"]["text"]), tokenizer, 256, wrap_cls_sep=False)
    figures = {"news_before": evaluate_causal_lm(model, heldout_news)["perplexity"]}
    validation = reviews["validation"].select(range(args.validation))
    plain_validation = encode_reviews(validation, tokenizer, start, args.max_length, controls=None)
    figures["reviews_before_no_control"] = perplexity(model, plain_validation, tokenizer)
    if args.init == "related":
        add_control_tokens(model, tokenizer, RELATED_CHARACTERS)
    else:  # transformers' default: mean and covariance of the existing rows
        tokenizer.add_special_tokens({"additional_special_tokens": list(RELATED_CHARACTERS)})
        model.resize_token_embeddings(len(tokenizer))
    start_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    heldout = encode_reviews(validation, tokenizer, start, args.max_length)
    figures["reviews_before_initialised"] = perplexity(model, heldout, tokenizer)
    train_reviews = reviews["train"].select(range(args.limit)) if args.limit else reviews["train"]
    train = encode_reviews(train_reviews, tokenizer, start, args.max_length)
    if args.replay_share:
        from datasets import concatenate_datasets
        extra = replay_examples(list(news["train"]["text"]), replay_count(len(train), args.replay_share), tokenizer,
                                start, args.max_length, seed=0)
        train = concatenate_datasets([train, extra])
    arguments = training_arguments(profile, learning_rate=args.lr, num_train_epochs=args.epochs, warmup_steps=0.05,
                                   per_device_train_batch_size=args.batch_size, save_strategy="no",
                                   logging_steps=50, train_sampling_strategy="group_by_length",
                                   lr_scheduler_type=args.schedule, disable_tqdm=True)
    trainer = Trainer(model=model, args=arguments, train_dataset=train, data_collator=collator(tokenizer),
                      processing_class=tokenizer)
    began = time.perf_counter()
    output = trainer.train()
    figures["train_seconds"] = round(time.perf_counter() - began, 1)
    figures["train_tokens"] = int(sum(len(ids) for ids in train["input_ids"])) * args.epochs
    figures["train_loss_log"] = [round(row["loss"], 4) for row in trainer.state.log_history if "loss" in row]
    judges = make_judges(args, reviews)
    figures["judges_on_test"] = {name: per_class_accuracy(reviews["test"]["label"], predict(list(reviews["test"]["text"])))
                                 for name, predict in judges.items()}
    fine_tuned = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if args.save:
        model.save_pretrained(ROOT / "runs" / f"gpt-{args.name}")
        tokenizer.save_pretrained(ROOT / "runs" / f"gpt-{args.name}")
    train_text = "\n".join(reviews["train"]["text"])
    figures["alphas"] = {}
    for alpha in args.alphas:
        model.load_state_dict({k: start_state[k] + alpha * (fine_tuned[k] - start_state[k]) if v.is_floating_point()
                               else v for k, v in fine_tuned.items()})
        row = {"news": evaluate_causal_lm(model, heldout_news)["perplexity"],
               "reviews": perplexity(model, heldout, tokenizer)}
        if args.samples:
            row["control"] = controllability(model, tokenizer, start, judges, train_text, args.samples,
                                             args.new_tokens)
        figures["alphas"][str(alpha)] = row
        print(json.dumps({"alpha": alpha, **{k: v for k, v in row.items() if k != "control"},
                          **{f"{c}_{j}": r["judged_positive"][j] for c, r in row.get("control", {}).items()
                             for j in r["judged_positive"]}}), flush=True)
    return {"kind": "finetune", "settings": vars(args) | {"sampling": SAMPLING}, "figures": figures,
            "checkpoint_files": (read_record(args.checkpoint) or {}).get("files", {})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("judge", "finetune", "sample"))
    parser.add_argument("--settings", nargs="+", default=[json.dumps(SAMPLING)], help="sample: JSON sampling settings")
    parser.add_argument("--name", default=None)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--validation", type=int, default=500, help="validation reviews scored")
    parser.add_argument("--eval-every", type=int, default=100, help="judge: validate every N steps")
    parser.add_argument("--checkpoint", default="course-gpt")
    parser.add_argument("--init", choices=("related", "default"), default="related")
    parser.add_argument("--no-start", dest="start", action="store_false", help="no start token before the control token")
    parser.add_argument("--replay-share", type=float, default=0.0)
    parser.add_argument("--schedule", default="linear")
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--new-tokens", type=int, default=60)
    parser.add_argument("--bert-judge", default=None, help="folder of a judge saved by the judge step")
    parser.add_argument("--judge-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", action="store_true", help="save the fine-tuned model to runs/gpt-<name>")
    parser.add_argument("--limit", type=int, default=None, help="first N training reviews only (a quick check)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    entry = {"judge": judge_bert, "finetune": finetune, "sample": sample}[args.step](args)
    entry.update(hardware=hardware(), date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
                 seconds=round(time.perf_counter() - began, 1),
                 command="python bench/gpt_control.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.step == "sample":
        name = f"sample-{args.name}" + ("" if args.alphas == [1.0] else "-interpolated")
    else:
        name = args.name or f"{args.step}-{args.max_length}"
    save(name, entry)
    print(json.dumps({k: v for k, v in entry.items() if k not in ("history",)}, ensure_ascii=False)[:4000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
