"""Pretraining speed on this machine, side by side in one run.

1. Masked-LM training step with the loss only at masked positions (sparse) vs the dense head
   (BertForMaskedLM's own, logits at every position): same model, same batches, interleaved.
2. Training throughput as a share of what the cores can do: 6 x parameters x tokens/s (the usual
   estimate of training FLOPs) over the FLOP/s of a plain fp32 1024x1024 matrix product.

    python bench/pretraining_speed.py                 # course BERT size, batch 64 x 128, 2 threads
    python bench/pretraining_speed.py --steps 5       # quick check

Writes bench/results/pretraining_speed.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import BertForMaskedLM

from helpers.models import bert_config
from helpers.training import count_parameters
from helpers.env import hardware
from helpers.pretraining import mask_tokens, mlm_loss, special_token_ids
from helpers.profiles import get_profile
from helpers.tokenization import load_course_tokenizer

RESULTS = Path(__file__).resolve().parent / "results" / "pretraining_speed.json"


def matmul_flops(size: int = 1024, repeats: int = 50) -> float:
    """FLOP/s of a plain fp32 ``size x size`` matrix product (best of three timings)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(5):
        a @ b
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * size**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant (after 3 warm-up steps)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tokenizer = load_course_tokenizer()
    model = BertForMaskedLM(bert_config(get_profile("cpu"), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(10, len(tokenizer), (args.batch_size, args.block_size))
    ids[:, 0], ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    generator = torch.Generator().manual_seed(0)

    def step(sparse: bool) -> float:
        inputs, labels = mask_tokens(ids, special_token_ids(tokenizer), tokenizer.mask_token_id, len(tokenizer),
                                     generator=generator)
        start = time.perf_counter()
        loss = mlm_loss(model, inputs, labels, sparse=sparse)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    for _ in range(3):
        step(True), step(False)
    times = {True: [], False: []}
    for _ in range(args.steps):  # interleaved, so machine noise hits both alike
        for sparse in (True, False):
            times[sparse].append(step(sparse))
    median = {key: sorted(values)[len(values) // 2] for key, values in times.items()}
    tokens_per_step = args.batch_size * args.block_size
    params = count_parameters(model)[1]
    flops = matmul_flops()
    result = {
        "hardware": hardware(),
        "torch": torch.__version__,
        "model": f"BERT {model.config.num_hidden_layers} layers, hidden {model.config.hidden_size}, "
                 f"vocabulary {model.config.vocab_size}, {params:,} parameters",
        "batch": f"{args.batch_size} x {args.block_size} tokens, 15% masked",
        "dense_step_seconds": median[False],
        "sparse_step_seconds": median[True],
        "sparse_speedup": median[False] / median[True],
        "dense_tokens_per_second": tokens_per_step / median[False],
        "sparse_tokens_per_second": tokens_per_step / median[True],
        "matmul_gflops": flops / 1e9,
        "dense_flops_fraction": 6 * params * tokens_per_step / median[False] / flops,
        "sparse_flops_fraction": 6 * params * tokens_per_step / median[True] / flops,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{result['hardware']}, torch {result['torch']}; {result['model']}; batch {result['batch']}\n")
    print("| MLM head | step time | tokens/s | 6·N·tokens/s ÷ matmul FLOP/s |")
    print("|---|---|---|---|")
    for name in ("dense", "sparse"):
        print(f"| {name} | {result[name + '_step_seconds'] * 1000:.0f} ms | {result[name + '_tokens_per_second']:,.0f} | "
              f"{result[name + '_flops_fraction']:.0%} |")
    print(f"\nsparse speed-up: {result['sparse_speedup']:.2f}x; fp32 1024x1024 matmul: {result['matmul_gflops']:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
