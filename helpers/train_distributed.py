"""One fine-tuning script (lesson 02's classifier on the reviews) for one process, torchrun, accelerate and Trainer.

Written once, launched unchanged in every way below (``-m`` runs a module; ``python -m`` needs no launcher)::

    python -m helpers.train_distributed --output runs/one                          # one process
    torchrun --nproc_per_node=2 -m helpers.train_distributed --output runs/two      # DDP: gloo on CPU, nccl on GPU
    torchrun --nproc_per_node=2 -m helpers.train_distributed --engines ddp,fsdp,trainer --output runs/two
    accelerate launch --multi_gpu --num_processes=2 -m helpers.train_distributed --engines accelerate ...
    # N machines with G processes each: the same command on every machine, K = 0 on HOST0, 1 .. N-1 elsewhere
    torchrun --nnodes=N --node_rank=K --nproc_per_node=G --rdzv_endpoint=HOST0:29500 -m helpers.train_distributed ...

Four engines, one recipe (AdamW on decayed matrices only, linear warmup and decay, clipping at 1.0, dynamic
padding), so their results can be compared number for number; ``--engines a,b`` runs several, one after the
other, in the same processes (one launch), each writing to ``<output>/<engine>/``:

* ``ddp`` (default): a hand-written loop with ``torch.distributed``: ``DistributedSampler`` shards every epoch's
  permutation between the ranks and ``DistributedDataParallel`` averages gradients with an all-reduce during
  backward (``no_sync`` skips it on accumulation micro-batches). As one process it is a plain loop;
* ``fsdp``: the same loop with FSDP2's ``fully_shard``: parameters, gradients and optimizer state are split
  between the ranks (ZeRO stage 3);
* ``accelerate``: the same loop through ``accelerate.Accelerator`` (``prepare``, ``accumulate``, ``backward``);
* ``trainer``: ``transformers.Trainer``, which runs on ``accelerate`` too.

In every engine the model is created under one seed on every rank (replicas must start equal), the data order
comes from one seed (ranks must agree on the permutation they share out), and dropout gets a seed per rank.
Only rank 0 prints and writes; evaluation is sharded between the ranks between two barriers; the process group
is destroyed also when training fails. Rank 0 writes ``history.json`` (losses, learning rates and seconds per
step, validation metrics, per-rank memory) and ``model.safetensors`` (the full, unsharded weights) to ``--output``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import resource
import sys
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist

from .distributed import (DistributedContext, EpochPermutation, barrier, distributed_session, rank_seed)

ENGINES = ("ddp", "fsdp", "accelerate", "trainer", "trainer-default")
PRECISIONS = ("fp32", "bf16")
OPTIMIZERS = ("adamw", "sgd")


@dataclass
class RunSettings:
    """Every knob of one run. Batch sizes are per process and per micro-batch."""

    engine: str = "ddp"
    model: str = "course-bert"
    train_examples: int = 512  # balanced subset of the training split
    eval_examples: int = 256  # first rows of the validation split
    max_length: int = 64
    batch_size: int = 8  # per process, per micro-batch
    eval_batch_size: int = 64
    accumulation_steps: int = 1
    max_steps: int | None = None  # optimizer steps; None = ``epochs`` passes
    epochs: int = 1
    learning_rate: float = 1e-4
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    optimizer: str = "adamw"
    dropout: float | None = None  # None keeps the checkpoint's 0.1; 0 makes runs comparable across world sizes
    precision: str = "fp32"  # "bf16": autocast
    checkpointing: bool = False  # activation (gradient) checkpointing
    seed: int = 0
    threads: int = 1  # torch threads of this process (restored afterwards when run in a notebook)
    device: str = "auto"  # "cpu", "cuda", or "auto": a GPU per process when there are enough, else the CPU
    log_every: int = 10
    output: str | None = None

    def validate(self) -> None:
        """Reject impossible settings with a message that says what to change."""
        for name, allowed in (("engine", ENGINES), ("precision", PRECISIONS), ("optimizer", OPTIMIZERS),
                              ("device", ("auto", "cpu", "cuda"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("train_examples", "eval_examples", "max_length", "batch_size", "eval_batch_size",
                     "accumulation_steps", "epochs", "log_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 (or None for whole epochs), got {self.max_steps}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def use_cuda(self) -> bool | None:
        """``None`` (decide from the GPUs per process) for "auto", else whether ``device`` is "cuda"."""
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for, but torch sees no GPU: use --device cpu or auto")
        return None if self.device == "auto" else self.device == "cuda"

    def steps_per_epoch(self, world_size: int) -> int:
        """Optimizer steps in one pass: every step takes ``batch_size x accumulation_steps x world_size`` examples."""
        per_step = self.batch_size * self.accumulation_steps * world_size
        if self.train_examples < per_step:
            raise ValueError(f"{self.train_examples} training examples are fewer than one optimizer step takes "
                             f"({self.batch_size} x {self.accumulation_steps} micro-batches x {world_size} "
                             "processes): raise --train-examples or lower the batch size")
        return self.train_examples // per_step

    def total_steps(self, world_size: int) -> int:
        return self.max_steps if self.max_steps is not None else self.epochs * self.steps_per_epoch(world_size)


def parse_args(argv: list[str] | None = None) -> list[RunSettings]:
    """Command-line flags (``--batch-size 8``) for every field of :class:`RunSettings`: one settings per engine.

    ``--engines ddp,trainer`` gives two settings that differ only in the engine, each with ``output`` set to
    ``<output>/<engine>``.
    """
    parser = argparse.ArgumentParser(prog="python -m helpers.train_distributed",
                                     description=__doc__.split("\n\n")[0])
    defaults = RunSettings()
    parser.add_argument("--engines", default=defaults.engine,
                        help=f"comma-separated engines to run one after the other: {', '.join(ENGINES)}")
    for field in fields(RunSettings):
        if field.name == "engine":
            continue
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if field.type in ("bool",):
            parser.add_argument(flag, action="store_true", default=default)
        elif field.name in ("max_steps",):
            parser.add_argument(flag, type=int, default=default)
        elif field.name in ("dropout", "max_grad_norm"):
            parser.add_argument(flag, type=float, default=default)
        elif field.name in ("output",):
            parser.add_argument(flag, default=default)
        elif field.name == "threads":
            parser.add_argument(flag, type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1") or 1),
                                help="torch threads per process (default: OMP_NUM_THREADS, else 1)")
        else:
            parser.add_argument(flag, type=type(default), default=default)
    namespace = vars(parser.parse_args(argv))
    engines = [e.strip() for e in namespace.pop("engines").split(",") if e.strip()]
    if not engines or len(set(engines)) != len(engines):
        parser.error(f"--engines needs distinct names from {', '.join(ENGINES)}, got {engines}")
    runs = []
    for engine in engines:
        output = str(Path(namespace["output"]) / engine) if namespace["output"] else None
        settings = RunSettings(**{**namespace, "engine": engine, "output": output})
        try:
            settings.validate()
        except ValueError as error:
            parser.error(str(error))
        runs.append(settings)
    return runs


# ----------------------------------------------------------------------------------------------- data and model

def _quiet() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*OMP_NUM_THREADS.*")
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:  # pragma: no cover - datasets is a course dependency
        pass


def prepare_data(settings: RunSettings):
    """``(tokenizer, train, validation)``: a balanced training subset and the first validation rows, tokenised.

    Kept per process for the same model, sizes and length, so that several runs in one process (``--engines``, a
    notebook) tokenise once.
    """
    return _prepared(settings.model, settings.train_examples, settings.eval_examples, settings.max_length)


@functools.lru_cache(maxsize=4)
def _prepared(model: str, train_examples: int, eval_examples: int, max_length: int):
    from .classification import balanced_subset, tokenize_dataset
    from .data import head, load_reviews
    from .models import load_tokenizer

    tokenizer = load_tokenizer(model)
    reviews = load_reviews()
    train = tokenize_dataset(balanced_subset(reviews["train"], train_examples), tokenizer, max_length)
    validation = tokenize_dataset(head(reviews["validation"], eval_examples), tokenizer, max_length)
    columns = [c for c in ("input_ids", "token_type_ids", "attention_mask", "label") if c in train.column_names]
    return tokenizer, train.with_format("torch", columns=columns), validation.with_format("torch", columns=columns)


def build_model(settings: RunSettings):
    """The classifier, created under the shared seed, so every rank holds the same initial weights."""
    from transformers import BertForSequenceClassification

    from .models import load_pretrained
    from .profiles import set_seed

    set_seed(settings.seed)
    overrides = {}
    if settings.dropout is not None:
        overrides = dict(hidden_dropout_prob=settings.dropout, attention_probs_dropout_prob=settings.dropout,
                         classifier_dropout=settings.dropout)
    model = load_pretrained(BertForSequenceClassification, settings.model, num_labels=2, **overrides)
    if settings.checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return model


def make_optimizer(settings: RunSettings, model: torch.nn.Module) -> torch.optim.Optimizer:
    """AdamW (or plain SGD) with weight decay on weight matrices only (helpers.training's one rule)."""
    from .training import adamw_parameter_groups

    groups = adamw_parameter_groups(model, settings.weight_decay)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=settings.learning_rate)
    return torch.optim.AdamW(groups, lr=settings.learning_rate)


def warmup_steps(settings: RunSettings, total: int) -> int:
    """Warm-up length in optimizer steps, rounded up (the rule ``TrainingArguments`` uses for a fraction)."""
    return math.ceil(settings.warmup_fraction * total)


def _local(tensor: torch.Tensor) -> torch.Tensor:
    """The part of a (possibly sharded) tensor this rank stores."""
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor


def _bytes(tensors) -> int:
    return int(sum(_local(t).numel() * _local(t).element_size() for t in tensors if t is not None))


def memory_on_this_rank(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """Bytes this rank holds in parameters, gradients and optimizer state (call after a step, before zeroing)."""
    state = [value for per_param in optimizer.state.values() for value in per_param.values()
             if torch.is_tensor(value) and value.numel() > 1]
    return {"parameter_bytes": _bytes(model.parameters()),
            "gradient_bytes": _bytes(p.grad for p in model.parameters()),
            "optimizer_state_bytes": _bytes(state)}


def _gather(context: DistributedContext, value):
    """Every rank's ``value`` as a list (rank order); ``[value]`` for one process."""
    if not context.is_distributed:
        return [value]
    gathered = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def _mean_over_ranks(context: DistributedContext, value: torch.Tensor) -> float:
    """The average of a scalar over ranks (gloo has no AVG reduction: sum, then divide)."""
    value = value.detach().float().clone().to(context.device)  # nccl reduces GPU tensors only
    if context.is_distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= context.world_size
    return value.item()


def evaluation_shard(num_examples: int, rank: int, world_size: int) -> tuple[list[int], list[float]]:
    """Rank ``rank``'s rows for sharded evaluation, and a weight per row.

    Rows ``rank, rank + world_size, ...`` so that every row is scored exactly once; ranks with one row fewer repeat
    a row with weight 0, so that every rank runs the same number of batches (FSDP's forward is a collective, and
    ``DistributedSampler``'s padding would count repeated rows twice).
    """
    rows = list(range(rank, num_examples, world_size))
    per_rank = math.ceil(num_examples / world_size)
    weights = [1.0] * len(rows)
    while len(rows) < per_rank:
        rows.append(rows[-1] if rows else 0)
        weights.append(0.0)
    return rows, weights


@torch.no_grad()
def evaluate_sharded(model: torch.nn.Module, validation, collator, context: DistributedContext,
                     batch_size: int, precision: str) -> dict[str, float]:
    """Accuracy and mean loss over the whole validation set, each rank scoring its shard, sums all-reduced."""
    import torch.nn.functional as F

    rows, weights = evaluation_shard(len(validation), context.rank, context.world_size)
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64)  # weighted correct, weighted loss, weight
    for start in range(0, len(rows), batch_size):
        chunk, weight = rows[start:start + batch_size], torch.tensor(weights[start:start + batch_size])
        batch = collator([validation[i] for i in chunk])
        labels = batch.pop("labels").to(context.device)
        with _autocast(context.device, precision):
            logits = model(**{k: v.to(context.device) for k, v in batch.items()}).logits.float()
        losses = F.cross_entropy(logits, labels, reduction="none").cpu().double()
        correct = (logits.argmax(-1) == labels).cpu().double()
        totals += torch.stack([(correct * weight).sum(), (losses * weight).sum(), weight.sum().double()])
    if context.is_distributed:
        totals = totals.to(context.device)  # nccl reduces GPU tensors only
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
        totals = totals.cpu()
    model.train()
    return {"accuracy": (totals[0] / totals[2]).item(), "loss": (totals[1] / totals[2]).item(),
            "examples": int(totals[2].item())}


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _log(context: DistributedContext, message: str) -> None:
    if context.is_main:
        print(message, flush=True)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# --------------------------------------------------------------------------------------------------- the engines

def shard_with_fsdp(model: torch.nn.Module, context: DistributedContext) -> torch.nn.Module:
    """FSDP2: each transformer layer, then the rest, becomes a unit whose parameters are split between the ranks.

    Before a unit's forward (and backward) its full parameters are all-gathered, afterwards freed; its gradients
    are reduce-scattered, so each rank keeps and updates only its slice (ZeRO stage 3).
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(context.device.type, (context.world_size,))
    for layer in model.bert.encoder.layer:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Unsharded fp32 CPU copies of every weight (a collective under FSDP: call it on every rank)."""
    inner = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    state = {}
    for name, value in inner.state_dict().items():
        if hasattr(value, "full_tensor"):
            value = value.full_tensor()
        state[name] = value.detach().to("cpu", torch.float32).contiguous().clone()
    return state


def train_loop(settings: RunSettings, context: DistributedContext) -> tuple[dict, dict[str, torch.Tensor]]:
    """The hand-written engine: DistributedSampler + DDP (or FSDP2), accumulation with ``no_sync``."""
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler
    from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

    tokenizer, train, validation = prepare_data(settings)
    collator = DataCollatorWithPadding(tokenizer)
    model = build_model(settings).to(context.device)
    if context.is_distributed and settings.engine == "ddp":
        model = DistributedDataParallel(model, device_ids=[context.device.index] if context.device.type == "cuda" else None)
    elif context.is_distributed:
        model = shard_with_fsdp(model, context)
    model.train()
    torch.manual_seed(rank_seed(settings.seed, context.rank))  # dropout: a different mask on every rank
    sampler = DistributedSampler(train, num_replicas=context.world_size, rank=context.rank, shuffle=True,
                                 seed=settings.seed, drop_last=True)
    loader = DataLoader(train, batch_size=settings.batch_size, sampler=sampler, collate_fn=collator, drop_last=True)
    optimizer = make_optimizer(settings, model)
    total = settings.total_steps(context.world_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps(settings, total), total)
    first_examples = list(sampler)[: settings.batch_size * settings.accumulation_steps]
    steps, memory, step, epoch = [], None, 0, 0
    start = time.perf_counter()
    while step < total:
        sampler.set_epoch(epoch)  # a new permutation each epoch, the same on every rank
        micro_batches = iter(loader)
        for _ in range(settings.steps_per_epoch(context.world_size)):
            if step >= total:
                break
            _synchronize(context.device)
            step_start, loss_sum = time.perf_counter(), torch.zeros(())
            for index in range(settings.accumulation_steps):
                batch = {k: v.to(context.device) for k, v in next(micro_batches).items()}
                last = index == settings.accumulation_steps - 1
                if isinstance(model, DistributedDataParallel) and not last:
                    sync = model.no_sync()  # accumulate locally; the all-reduce happens on the last micro-batch
                else:
                    sync = contextlib.nullcontext()
                if hasattr(model, "set_requires_gradient_sync"):  # FSDP2's no_sync
                    model.set_requires_gradient_sync(last)
                with sync:
                    with _autocast(context.device, settings.precision):
                        loss = model(**batch).loss
                    (loss / settings.accumulation_steps).backward()
                loss_sum += loss.detach().float().cpu()
            if settings.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            learning_rate = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            if memory is None:
                memory = memory_on_this_rank(model, optimizer)
            optimizer.zero_grad(set_to_none=True)
            _synchronize(context.device)
            seconds = time.perf_counter() - step_start
            step += 1
            mean_loss = _mean_over_ranks(context, loss_sum / settings.accumulation_steps)
            steps.append({"step": step, "loss": mean_loss, "learning_rate": learning_rate, "seconds": seconds})
            if step % settings.log_every == 0 or step == total:
                _log(context, f"step {step}/{total}  loss {mean_loss:.4f}  lr {learning_rate:.2e}  {seconds:.3f} s/step")
        epoch += 1
    train_seconds = time.perf_counter() - start
    allreduce = time_allreduce(context, memory["gradient_bytes"]) if context.is_distributed and memory else None
    barrier(context)  # every rank has finished training before anyone evaluates
    metrics = evaluate_sharded(model, validation, collator, context, settings.eval_batch_size, settings.precision)
    barrier(context)
    state = full_state_dict(model)
    per_rank = _gather(context, {"rank": context.rank, **(memory or {}), "peak_rss_mib": round(_peak_rss_mib(), 1),
                                 "first_step_examples": first_examples})
    return {"steps": steps, "validation": metrics, "train_seconds": train_seconds, "per_rank": per_rank,
            "allreduce": allreduce}, state


def time_allreduce(context: DistributedContext, num_bytes: int, repeat: int = 5) -> dict:
    """Median seconds of one all-reduce of ``num_bytes`` of fp32 (the size of this rank's gradients), and the bus
    bandwidth it implies: a ring moves 2 (N-1)/N x bytes through every link."""
    buffer = torch.ones(max(1, num_bytes // 4), dtype=torch.float32, device=context.device)
    dist.all_reduce(buffer)  # warm-up: connections and buffers
    times = []
    for _ in range(repeat):
        _synchronize(context.device)
        start = time.perf_counter()
        dist.all_reduce(buffer)
        _synchronize(context.device)
        times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]
    moved = 2 * (context.world_size - 1) / context.world_size * buffer.numel() * 4
    return {"bytes": buffer.numel() * 4, "seconds": seconds, "bus_bandwidth_bytes_per_s": moved / seconds}


def train_accelerate(settings: RunSettings, context: DistributedContext) -> tuple[dict, dict[str, torch.Tensor]]:
    """The same recipe through ``accelerate.Accelerator``."""
    from accelerate import Accelerator
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

    accelerator = Accelerator(cpu=context.device.type == "cpu",
                              mixed_precision="bf16" if settings.precision == "bf16" else "no",
                              gradient_accumulation_steps=settings.accumulation_steps)
    tokenizer, train, validation = prepare_data(settings)
    collator = DataCollatorWithPadding(tokenizer)
    model = build_model(settings)
    optimizer = make_optimizer(settings, model)
    per_step = settings.batch_size * settings.accumulation_steps * context.world_size
    loader = DataLoader(train, batch_size=settings.batch_size, collate_fn=collator, drop_last=True,
                        sampler=EpochPermutation(len(train), settings.seed, multiple=per_step))
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)  # DDP, device placement, batch sharding
    total = settings.total_steps(context.world_size)
    # Not passed to prepare(): a prepared scheduler advances once per *process* per step (it assumes lengths counted
    # on one process), so its warm-up and decay would be world_size times too fast for lengths in optimizer steps.
    scheduler = get_linear_schedule_with_warmup(optimizer.optimizer, warmup_steps(settings, total), total)
    model.train()
    torch.manual_seed(rank_seed(settings.seed, context.rank))
    steps, memory, step, epoch = [], None, 0, 0
    start = time.perf_counter()
    while step < total:
        loader.set_epoch(epoch)
        loss_sum, step_start = torch.zeros(()), time.perf_counter()
        for batch in loader:
            with accelerator.accumulate(model):  # no all-reduce until the last micro-batch of a step
                loss = model(**batch).loss
                accelerator.backward(loss)  # divides by the accumulation steps
                if accelerator.sync_gradients and settings.max_grad_norm is not None:
                    accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                learning_rate = scheduler.get_last_lr()[0]
                optimizer.step()  # skipped by accelerate on accumulation micro-batches
                if accelerator.sync_gradients and memory is None:
                    memory = memory_on_this_rank(model, optimizer.optimizer)
                optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.detach().float().cpu()
            if accelerator.sync_gradients:
                scheduler.step()
                _synchronize(context.device)
                seconds = time.perf_counter() - step_start
                step += 1
                mean_loss = accelerator.reduce(loss_sum.to(accelerator.device), reduction="mean").item()
                mean_loss /= settings.accumulation_steps
                steps.append({"step": step, "loss": mean_loss, "learning_rate": learning_rate, "seconds": seconds})
                if step % settings.log_every == 0 or step == total:
                    _log(context, f"step {step}/{total}  loss {mean_loss:.4f}  lr {learning_rate:.2e}  {seconds:.3f} s/step")
                loss_sum, step_start = torch.zeros(()), time.perf_counter()
                if step >= total:
                    break
        epoch += 1
    train_seconds = time.perf_counter() - start
    accelerator.wait_for_everyone()
    metrics = evaluate_sharded(model, validation, collator, context, settings.eval_batch_size, settings.precision)
    accelerator.wait_for_everyone()
    state = full_state_dict(accelerator.unwrap_model(model))
    per_rank = _gather(context, {"rank": context.rank, **(memory or {}), "peak_rss_mib": round(_peak_rss_mib(), 1)})
    return {"steps": steps, "validation": metrics, "train_seconds": train_seconds, "per_rank": per_rank}, state


def train_trainer(settings: RunSettings, context: DistributedContext) -> tuple[dict, dict[str, torch.Tensor]]:
    """The same recipe through ``transformers.Trainer`` (which uses ``accelerate`` underneath)."""
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer

    from .profiles import get_profile
    from .training import training_arguments

    class SameOrderTrainer(Trainer):
        """``Trainer`` whose training order is :class:`EpochPermutation` (its default shuffles with its own generator)."""

        def _get_train_sampler(self, train_dataset=None):
            return EpochPermutation(len(train_dataset if train_dataset is not None else self.train_dataset),
                                    self.args.seed, multiple=per_step)

    tokenizer, train, validation = prepare_data(settings)
    model = build_model(settings)
    if settings.engine == "trainer":
        # BertForSequenceClassification.forward takes **kwargs, so Trainer assumes its loss divides a *sum* by
        # num_items_in_batch; it does not (it takes a per-batch mean). Trainer then skips its own division by the
        # accumulation steps and multiplies the loss by the number of processes: gradients world_size x
        # accumulation_steps times too large. Saying the model takes no loss kwargs restores the plain mean.
        # ("trainer-default" leaves Trainer as shipped, to measure what that costs.)
        model.accepts_loss_kwargs = False
    total = settings.total_steps(context.world_size)
    per_step = settings.batch_size * settings.accumulation_steps * context.world_size
    arguments = training_arguments(
        get_profile(), per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size, gradient_accumulation_steps=settings.accumulation_steps,
        max_steps=total, learning_rate=settings.learning_rate, lr_scheduler_type="linear",
        warmup_steps=warmup_steps(settings, total), weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm if settings.max_grad_norm is not None else 0.0,
        optim="sgd" if settings.optimizer == "sgd" else "adamw_torch", logging_strategy="steps", logging_steps=1,
        save_strategy="no", eval_strategy="no", seed=settings.seed, disable_tqdm=True,
        use_cpu=context.device.type == "cpu", fp16=False, bf16=settings.precision == "bf16",
        ddp_find_unused_parameters=False,
        activation_checkpointing=False,  # build_model already switched it on when asked
    )
    trainer = SameOrderTrainer(model=model, args=arguments, train_dataset=train, eval_dataset=validation,
                               data_collator=DataCollatorWithPadding(tokenizer))
    trainer.remove_callback(PrinterCallback)  # it prints every log row; rank 0 prints a summary instead
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    logged = [row for row in trainer.state.log_history if "loss" in row and "step" in row]
    steps = [{"step": row["step"], "loss": row["loss"], "learning_rate": row.get("learning_rate", float("nan")),
              "seconds": float("nan")} for row in logged]
    for row in steps:
        if row["step"] % settings.log_every == 0 or row["step"] == total:
            _log(context, f"step {row['step']}/{total}  loss {row['loss']:.4f}  lr {row['learning_rate']:.2e}")
    evaluated = trainer.evaluate()
    metrics = {"loss": evaluated["eval_loss"], "examples": len(validation)}
    state = full_state_dict(trainer.accelerator.unwrap_model(trainer.model))
    per_rank = _gather(context, {"rank": context.rank, "peak_rss_mib": round(_peak_rss_mib(), 1)})
    return {"steps": steps, "validation": metrics, "train_seconds": train_seconds, "per_rank": per_rank}, state


ENGINE_FUNCTIONS = {"ddp": train_loop, "fsdp": train_loop, "accelerate": train_accelerate, "trainer": train_trainer,
                    "trainer-default": train_trainer}


def run(settings: RunSettings, context: DistributedContext | None = None) -> dict:
    """Train with ``settings`` on this process (one of many under a launcher); rank 0 writes the results.

    Returns the history (on every rank) with the full weights under ``"state"``. Without a ``context`` it joins the
    launcher's process group and leaves it at the end (called in a notebook or a test, it runs as one process);
    :func:`main` passes one context to all its runs, because a process group cannot be re-created under torchrun.
    """
    if context is None:
        with distributed_session(use_cuda=settings.use_cuda()) as own_context:
            return run(settings, own_context)
    settings.validate()
    _quiet()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        return _run(settings, context)
    finally:
        torch.set_num_threads(threads_before)


def _run(settings: RunSettings, context: DistributedContext) -> dict:
    from .env import hardware

    wall_start = time.perf_counter()
    _log(context, f"{settings.engine} engine, {context.world_size} process(es) on {context.device} "
                  f"(backend {context.backend or 'none'}), {torch.get_num_threads()} thread(s) each")
    history, state = ENGINE_FUNCTIONS[settings.engine](settings, context)
    history.update(
        settings=asdict(settings), world_size=context.world_size, backend=context.backend,
        global_batch=settings.batch_size * settings.accumulation_steps * context.world_size,
        wall_seconds=time.perf_counter() - wall_start, hardware=hardware(context.device),
        torch_threads=torch.get_num_threads(), torch=torch.__version__, command=sys.argv,
    )
    if context.is_main and settings.output:
        from safetensors.torch import save_file

        folder = Path(settings.output)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(state, str(folder / "model.safetensors"))
        (folder / "history.json").write_text(json.dumps(history, indent=1) + "\n", encoding="utf-8")
    valid = history["validation"]
    _log(context, f"done: {len(history['steps'])} steps in {history['train_seconds']:.1f} s, validation loss "
                  f"{valid['loss']:.4f}" + (f", accuracy {valid['accuracy']:.3f}" if "accuracy" in valid else ""))
    barrier(context)  # nobody goes on (or tears the group down) before rank 0 has written its files
    history["state"] = state
    return history


def load_run(folder: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(history, weights)`` written by a run's rank 0 into ``folder``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "history.json").is_file():
        raise FileNotFoundError(f"{folder} holds no history.json: did the run finish? (its rank 0 writes it last)")
    return json.loads((folder / "history.json").read_text(encoding="utf-8")), load_file(str(folder / "model.safetensors"))


def main(argv: list[str] | None = None) -> int:
    runs = parse_args(argv)
    with distributed_session(use_cuda=runs[0].use_cuda()) as context:  # one group for all runs; destroyed also on error
        for settings in runs:
            run(settings, context)
    return 0


if __name__ == "__main__":
    sys.exit(main())
