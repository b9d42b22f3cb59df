"""Pretrain (or continue pretraining) a course checkpoint: ``python -m helpers.checkpoints bert|gpt``.

It uses the same helpers as lesson 01 (:mod:`helpers.pretraining`) and writes a checkpoint folder:
``config.json``, fp16 ``model.safetensors``, the tokenizer, and ``training_record.json`` with every run's
steps, tokens, wall time, hardware, git commit and losses, the held-out figures of the saved weights,
and the SHA-256 of every other file in the folder (:mod:`helpers.integrity`; loading a course checkpoint
checks them).

Text: People's Daily train slice + the *text* of the review training split (no labels): the second
part is domain-adaptive pretraining, so the model has read reviews before it classifies them. Held out:
the People's Daily held-out slice (the reported target) and the review validation split.

Examples::

    python -m helpers.checkpoints bert --minutes 100 --threads 1           # resume from the shipped one
    python -m helpers.checkpoints gpt --minutes 30 --from-scratch --out /tmp/gpt

A run that does not improve the held-out figure does not overwrite the checkpoint (unless ``--force``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import subprocess
import time
import sys
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from transformers import BertForMaskedLM, GPT2LMHeadModel

from .env import hardware
from .integrity import RECORD_NAME, file_hashes, sha256  # noqa: F401 - re-exported: the record's hashes
from .data import load_pretraining_text, load_reviews
from .models import COURSE_CHECKPOINTS, bert_config, gpt_config, load_pretrained
from .replaced_token_detection import ReplacedTokenDetection
from .pretraining import PretrainResult, PretrainSettings, evaluate_causal_lm, evaluate_mlm, pack_blocks, pretrain
from .profiles import get_profile, gpu_mixed_precision
from .tokenization import load_course_tokenizer

RTD_FILE = "rtd_objective.safetensors"
DEFAULTS = {  # block size, batch size, peak learning rate
    "bert": {"block_size": 128, "batch_size": 64, "learning_rate": 1e-3},
    "gpt": {"block_size": 256, "batch_size": 32, "learning_rate": 1e-3},
}
_DROPOUT_KEYS = {"bert": ("hidden_dropout_prob", "attention_probs_dropout_prob"),
                 "gpt": ("resid_pdrop", "embd_pdrop", "attn_pdrop")}


def pretraining_texts() -> dict[str, list[str]]:
    """Training text and the two held-out sets used by the script and lesson 01."""
    corpus, reviews = load_pretraining_text(), load_reviews()
    return {
        "train": list(corpus["train"]["text"]) + list(reviews["train"]["text"]),
        "train_news": list(corpus["train"]["text"]),
        "train_reviews": list(reviews["train"]["text"]),
        "heldout_news": list(corpus["heldout"]["text"]),
        "heldout_reviews": list(reviews["validation"]["text"]),
    }


def training_blocks(texts: dict[str, list[str]], tokenizer, block_size: int, wrap_cls_sep: bool,
                    review_share: float | None) -> torch.Tensor:
    """Packed training blocks; ``review_share`` sets the fraction of review blocks a random batch draws.

    ``None`` packs news and review text together in their natural proportion (about 36% reviews);
    ``1.0`` is task-adaptive pretraining on the review training text alone; values in between repeat the
    smaller part so that uniform sampling draws review blocks with that probability.
    """
    if review_share is None:
        return pack_blocks(texts["train"], tokenizer, block_size, wrap_cls_sep)
    if not 0.0 < review_share <= 1.0:
        raise ValueError(f"review_share must be in (0, 1], got {review_share}")
    reviews = pack_blocks(texts["train_reviews"], tokenizer, block_size, wrap_cls_sep)
    if review_share == 1.0:
        return reviews
    news = pack_blocks(texts["train_news"], tokenizer, block_size, wrap_cls_sep)
    wanted = review_share / (1 - review_share)  # review blocks per news block
    if len(reviews) / len(news) < wanted:
        reviews = reviews.repeat(math.ceil(wanted * len(news) / len(reviews)), 1)[: round(wanted * len(news))]
    else:
        news = news.repeat(math.ceil(len(reviews) / wanted / len(news)), 1)[: round(len(reviews) / wanted)]
    return torch.cat([news, reviews])


def git_commit() -> str:
    """The code's commit, with ``+dirty`` when the work tree has uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        # helpers/assets is excluded: a concurrent run saving its checkpoint there does not change the code
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "helpers", ":!helpers/assets"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_record(checkpoint: str | Path) -> dict | None:
    """The training record of a course checkpoint (``"course-bert"``, ``"course-gpt"``) or folder; None if absent."""
    folder = COURSE_CHECKPOINTS[checkpoint] if isinstance(checkpoint, str) and checkpoint in COURSE_CHECKPOINTS \
        else Path(checkpoint)
    path = folder / RECORD_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def heldout_metric(kind: str, figures: dict, heldout: str = "news") -> float:
    """Higher is better: masked accuracy for BERT, minus perplexity for GPT, on ``news`` or ``reviews``."""
    return figures[heldout]["masked_accuracy"] if kind == "bert" else -figures[heldout]["perplexity"]


def evaluate(kind: str, model, tokenizer, texts: dict[str, list[str]], block_size: int) -> dict:
    figures = {}
    for name, key in (("news", "heldout_news"), ("reviews", "heldout_reviews")):
        blocks = pack_blocks(texts[key], tokenizer, block_size, wrap_cls_sep=kind == "bert")
        figures[name] = (evaluate_mlm(model, blocks, tokenizer) if kind == "bert"
                         else evaluate_causal_lm(model, blocks))
    return figures


def new_model(kind: str, dropout: float = 0.1):
    """A fresh course-size model (the cpu profile's size) with every dropout rate set to ``dropout``."""
    profile = get_profile("cpu")
    rates = {key: dropout for key in _DROPOUT_KEYS[kind]}
    if kind == "bert":
        return BertForMaskedLM(bert_config(profile, **rates))
    return GPT2LMHeadModel(gpt_config(profile, **rates))


def save_checkpoint(model, tokenizer, folder: Path, record: dict, objective=None) -> None:
    """fp16 safetensors + config (standard dropout 0.1 for fine-tuning) + tokenizer + record with hashes.

    With an RTD ``objective``, its generator and head are saved too (fp32), so a later run can resume them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if objective is not None:
        save_model(objective, str(folder / RTD_FILE))  # handles the generator's tied embedding/decoder weights
    shipped = new_model(record["kind"])
    shipped.load_state_dict(model.state_dict())
    shipped.to(torch.float16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    record["files"] = file_hashes(folder)
    (folder / RECORD_NAME).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def training_precision(choice: str) -> str | None:
    """The autocast dtype of a pretraining run: none on the CPU; on CUDA the GPU's best unless ``choice`` names one."""
    if not torch.cuda.is_available() or choice == "fp32":
        return None
    return gpu_mixed_precision() if choice == "auto" else choice


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.checkpoints", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("bert", "gpt"))
    parser.add_argument("--minutes", type=float, default=None, help="time box; the LR schedule fits into it")
    parser.add_argument("--steps", type=int, default=100_000, help="schedule length (upper bound with --minutes)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--block-size", type=int, default=None)
    parser.add_argument("--mlm-probability", type=float, default=0.15)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--from-scratch", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("--force", action="store_true", help="save even if held-out figures got worse")
    parser.add_argument("--review-share", type=float, default=None,
                        help="fraction of review blocks per batch (1.0 = review training text only); "
                             "default: news and reviews packed together")
    parser.add_argument("--select-on", choices=("news", "reviews"), default="news",
                        help="held-out set whose figure must improve for the checkpoint to be saved")
    parser.add_argument("--save-every", type=float, default=None,
                        help="minutes between interim saves (a run cut off still leaves its weights)")
    parser.add_argument("--objective", choices=("mlm", "rtd"), default="mlm",
                        help="bert only: masked LM, or ELECTRA's replaced-token detection (a small generator trains "
                             "alongside; its weights are kept in rtd_objective.safetensors next to the checkpoint)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                        help="autocast on CUDA: auto = bf16 on compute capability >= 8.0, else fp16; the CPU trains fp32")
    parser.add_argument("--heldout-limit", type=int, default=None,
                        help="evaluate on only the first N held-out texts of each set (quick checks, tests)")
    args = parser.parse_args(argv)
    if args.minutes is None and args.steps == 100_000:
        parser.error("give --minutes (time box) or --steps")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    kind = args.kind
    out = args.out or COURSE_CHECKPOINTS[f"course-{kind}"]
    defaults = DEFAULTS[kind]
    block_size = args.block_size or defaults["block_size"]
    settings = PretrainSettings(
        steps=args.steps, batch_size=args.batch_size or defaults["batch_size"],
        learning_rate=args.lr or defaults["learning_rate"], mlm_probability=args.mlm_probability,
        seed=args.seed, max_minutes=args.minutes, log_every=50,
        mixed_precision=training_precision(args.precision),
    )
    tokenizer = load_course_tokenizer()
    texts = pretraining_texts()
    if args.heldout_limit:
        texts.update({key: texts[key][: args.heldout_limit] for key in ("heldout_news", "heldout_reviews")})
    previous = None if args.from_scratch else read_record(out)
    model_class = BertForMaskedLM if kind == "bert" else GPT2LMHeadModel
    no_dropout = {key: 0.0 for key in _DROPOUT_KEYS[kind]}  # the model underfits: dropout only slows it
    model = load_pretrained(model_class, out, **no_dropout) if previous else new_model(kind, dropout=0.0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    before = evaluate(kind, model, tokenizer, texts, block_size) if previous else None
    blocks = training_blocks(texts, tokenizer, block_size, kind == "bert", args.review_share)
    objective = None
    if args.objective == "rtd":
        if kind != "bert":
            parser.error("--objective rtd is for bert")
        objective = ReplacedTokenDetection(model, tokenizer, mlm_probability=args.mlm_probability, seed=args.seed)
        if (out / RTD_FILE).is_file():  # resume the generator and head of an earlier RTD run
            load_model(objective, str(out / RTD_FILE))
    corpus_tokens = blocks.numel()
    print(f"{kind}: {len(blocks):,} training blocks of {block_size} tokens; resuming: {bool(previous)}", flush=True)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    text_name = ("news + review train text, packed together" if args.review_share is None
                 else f"review train text only" if args.review_share == 1.0
                 else f"news + review train text, {args.review_share:.0%} of blocks drawn from reviews")

    def make_record(result, partial: bool = False) -> dict:
        run = {
            "started": started, "hardware": hardware(), "git_commit": git_commit(), "text": text_name,
            "steps": result.steps, "tokens": result.tokens, "seconds": round(result.seconds, 1),
            "epochs": round(result.tokens / corpus_tokens, 3), "final_train_loss": round(result.final_loss, 4),
            "settings": {**vars(settings), "block_size": block_size, "adam_betas": list(settings.adam_betas),
                         "review_share": args.review_share, "objective": args.objective},
            "resumed_from": (previous or {}).get("files", {}).get("model.safetensors"),
            "loss_curve": [{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
                           for row in result.history],
        }
        if partial:
            run["interim"] = "saved while the run was still going; its schedule had not finished"
        runs = (previous or {}).get("runs", []) + [run]
        return {
            "kind": kind,
            "description": "course checkpoint pretrained by helpers/checkpoints.py; see helpers/pretraining.py",
            "data": {"train": "People's Daily 1998-01 train slice and/or review train split text (no labels); "
                              "each run names its text",
                     "corpus_tokens": corpus_tokens, "block_size": block_size,
                     "heldout": "People's Daily held-out slice (news) and review validation split (reviews)"
                                + (f", first {args.heldout_limit} texts of each" if args.heldout_limit else "")},
            "totals": {"steps": sum(r["steps"] for r in runs), "tokens": sum(r["tokens"] for r in runs),
                       "seconds": round(sum(r["seconds"] for r in runs), 1)},
            "runs": runs,
        }

    last_save = [time.perf_counter()]

    def on_log(row: dict) -> None:
        print(json.dumps(row), flush=True)
        if args.save_every and time.perf_counter() - last_save[0] >= 60 * args.save_every:
            interim = PretrainResult(steps=row["step"], tokens=row["tokens"], seconds=row["seconds"],
                                     history=list(progress_rows))
            save_checkpoint(model, tokenizer, out, make_record(interim, partial=True), objective)
            model.train()
            last_save[0] = time.perf_counter()
            print(json.dumps({"interim_save": str(out), "step": row["step"]}), flush=True)

    progress_rows: list[dict] = []

    def log_row(row: dict) -> None:
        progress_rows.append(row)
        on_log(row)

    result = pretrain(model, blocks, tokenizer, settings, progress=sys.stderr.isatty(), on_log=log_row,
                      objective=objective)
    after = evaluate(kind, model, tokenizer, texts, block_size)
    print(json.dumps({"heldout_before": before, "heldout_after": after}), flush=True)
    if (before is not None and heldout_metric(kind, after, args.select_on) <= heldout_metric(kind, before, args.select_on)
            and not args.force):
        print("held-out figures did not improve: checkpoint left unchanged (use --force to save anyway)")
        return 1
    record = make_record(result)
    save_checkpoint(model, tokenizer, out, record, objective)
    reloaded = load_pretrained(model_class, out).to(device)  # report the figures of the saved fp16 weights
    record["heldout"] = evaluate(kind, reloaded, tokenizer, texts, block_size)
    (out / RECORD_NAME).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({"saved": str(out), "heldout": record["heldout"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
