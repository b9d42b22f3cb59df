"""Data-parallel plumbing written once: process groups, per-rank seeds, the global data order, launching, comparing.

A launcher (``torchrun``, or ``accelerate launch``, which calls torchrun) starts one Python process per device and
tells each who it is through environment variables: ``RANK`` (0 .. world_size-1 over all machines), ``LOCAL_RANK``
(the index on this machine, which picks the GPU), ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` (where
rank 0 waits for the others). Started without a launcher, none of them is set and the same code runs as one
process. This module turns that into a :class:`DistributedContext`:

* :func:`distributed_session` initialises the process group (``nccl`` on GPUs, ``gloo`` on CPUs), yields the
  context, and destroys the group on the way out **also when training raised**, so that a failed rank does not
  leave the others waiting in a collective until the time-out;
* :func:`rank_seed` gives every rank its own seed for dropout and augmentation, while the model is created under
  one shared seed (every replica must start from the same weights) and the data order uses one shared seed
  (every rank must agree on the permutation it takes its slice from);
* :class:`EpochPermutation` is the global, seeded order of one epoch: the order ``DistributedSampler`` slices
  the ranks' shards from. Handing it to ``accelerate`` or ``Trainer`` (which shard whole batches between the
  ranks) gives every engine the same global batches, step by step;
* :func:`launch` runs ``torchrun`` / ``accelerate launch`` from a notebook or a test as a subprocess, with a
  time-out that kills the whole process tree, and returns its output;
* :func:`relative_parameter_difference` is the one number the equivalence checks compare.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch
import torch.distributed as dist

_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class LaunchError(RuntimeError):
    """A launched run failed or ran past its time-out; the message ends with the tail of its output."""


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is: its global rank, the number of processes, its index on this machine, its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None  # None when running as one process (no process group)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, evaluates into files and saves."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer; it is set by torchrun or "
                         "accelerate launch: unset it to run as one process") from None


def launch_environment() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the launcher's variables; ``(0, 1, 0)`` without a launcher."""
    rank, world_size, local_rank = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={world_size} are inconsistent (need 0 <= RANK < WORLD_SIZE); "
                         "start the script with torchrun, or unset both to run as one process")
    return rank, world_size, local_rank


def default_backend(device: torch.device) -> str:
    """``nccl`` for CUDA devices (GPU-to-GPU over NVLink/InfiniBand), ``gloo`` for CPUs."""
    return "nccl" if device.type == "cuda" else "gloo"


def init_distributed(backend: str | None = None, timeout_s: float = 300.0,
                     use_cuda: bool | None = None) -> DistributedContext:
    """Join the process group the launcher set up (or do nothing for one process) and return the context.

    ``use_cuda`` defaults to "every process on this machine can have a GPU of its own" (``LOCAL_WORLD_SIZE``, set
    by the launcher, at most the number of GPUs; the same answer on every rank of a machine); each rank then takes
    GPU ``LOCAL_RANK``. ``timeout_s`` bounds how long a collective waits for a missing rank before it raises
    instead of hanging.
    """
    rank, world_size, local_rank = launch_environment()
    if use_cuda is None:
        use_cuda = torch.cuda.is_available() and torch.cuda.device_count() >= _env_int("LOCAL_WORLD_SIZE", 1)
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} GPU(s) are visible: "
                               "start at most one process per GPU (torchrun --nproc_per_node=<number of GPUs>)")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size == 1:
        return DistributedContext(rank, 1, local_rank, device, None)
    backend = backend or default_backend(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=dt.timedelta(seconds=timeout_s),
                                device_id=device if device.type == "cuda" else None)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, device, backend)


@contextlib.contextmanager
def distributed_session(backend: str | None = None, timeout_s: float = 300.0,
                        use_cuda: bool | None = None) -> Iterator[DistributedContext]:
    """``with distributed_session() as ctx:`` join the group, and always leave it (``destroy_process_group``)."""
    context = init_distributed(backend, timeout_s, use_cuda)
    try:
        yield context
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    """Wait until every rank arrives here (nothing to wait for as one process)."""
    if context.is_distributed:
        dist.barrier()


def rank_seed(seed: int, rank: int) -> int:
    """The seed for rank-local randomness (dropout, augmentation): different on every rank, fixed per run."""
    if seed < 0 or rank < 0:
        raise ValueError(f"seed and rank must be >= 0, got seed={seed}, rank={rank}")
    return seed + 1_000_003 * rank


class EpochPermutation(torch.utils.data.Sampler):
    """The global order of one epoch: ``torch.randperm(n)`` seeded with ``seed + epoch``, identical on every rank.

    It is exactly the order ``DistributedSampler(shuffle=True, seed=seed)`` takes every ``world_size``-th index
    from. ``accelerate`` and ``Trainer`` shard *batches* of this order between the ranks (rank r gets batches r,
    r + world_size, ...); the ranks' batches of one step are then the same examples as one batch of
    ``world_size x batch_size`` on one process. Call :meth:`set_epoch` before each epoch for a new order.
    ``multiple``: yield only the first ``multiple x floor(n / multiple)`` indices, i.e. whole optimizer steps of
    ``multiple`` examples, as ``DistributedSampler(drop_last=True)`` with a ``drop_last`` loader does.
    """

    def __init__(self, num_examples: int, seed: int = 0, multiple: int = 1):
        if num_examples < 1 or multiple < 1:
            raise ValueError(f"num_examples and multiple must be >= 1, got {num_examples}, {multiple}")
        if multiple > num_examples:
            raise ValueError(f"{num_examples} examples hold no complete step of {multiple}: use more examples")
        self.num_examples, self.seed, self.epoch = num_examples, seed, 0
        self.used = num_examples // multiple * multiple

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.used

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.num_examples, generator=generator)[: self.used].tolist())


def free_port() -> int:
    """A TCP port that is free on this machine now (for ``MASTER_PORT`` / the rendezvous endpoint)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun_command(module: str, arguments: Sequence[str] = (), nproc_per_node: int = 2,
                     port: int | None = None, nnodes: int = 1, node_rank: int = 0,
                     master_addr: str = "127.0.0.1") -> list[str]:
    """``torchrun --nnodes=.. --node_rank=.. --nproc_per_node=.. --rdzv_endpoint=host:port -m module args``.

    One machine: ``nnodes=1`` and the loopback address. Several machines: the same command on each, with the
    number of machines, this machine's ``node_rank`` (0 on the machine at ``master_addr``) and rank 0's address.
    It runs torchrun with this Python (``python -m torch.distributed.run``), so a notebook's environment is used.
    """
    if nproc_per_node < 1 or nnodes < 1 or not 0 <= node_rank < nnodes:
        raise ValueError(f"need nproc_per_node >= 1 and 0 <= node_rank < nnodes, got {nproc_per_node}, "
                         f"{node_rank}, {nnodes}")
    return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--node_rank={node_rank}",
            f"--nproc_per_node={nproc_per_node}", f"--rdzv_endpoint={master_addr}:{port or free_port()}",
            "-m", module, *arguments]


def accelerate_command(module: str, arguments: Sequence[str] = (), num_processes: int = 2,
                       port: int | None = None, num_machines: int = 1, machine_rank: int = 0,
                       main_process_ip: str = "127.0.0.1") -> list[str]:
    """``accelerate launch --multi_gpu --num_processes=N ... -m module args`` as an argument list.

    ``num_processes`` counts all machines together. ``--multi_gpu`` selects accelerate's torchrun-based launcher,
    which is also the one that starts several CPU processes (``--cpu`` starts several only through MPI); the script
    then asks for the CPU itself when there is no GPU. Several machines: the same command on each, with this
    machine's ``machine_rank`` (0 on the machine at ``main_process_ip``).
    """
    if num_processes < 1 or num_machines < 1 or not 0 <= machine_rank < num_machines:
        raise ValueError(f"need num_processes >= 1 and 0 <= machine_rank < num_machines, got {num_processes}, "
                         f"{machine_rank}, {num_machines}")
    flags = ["--multi_gpu"] if num_processes > 1 else []
    if num_machines > 1:
        flags += [f"--machine_rank={machine_rank}", f"--main_process_ip={main_process_ip}"]
    return [sys.executable, "-m", "accelerate.commands.launch", *flags, f"--num_processes={num_processes}",
            f"--num_machines={num_machines}", "--mixed_precision=no", "--dynamo_backend=no",
            f"--main_process_port={port or free_port()}", "-m", module, *arguments]


@dataclass
class LaunchResult:
    """What a launched run left: its return code, wall time and combined output."""

    command: list[str]
    returncode: int
    seconds: float
    output: str

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])

    def first_traceback(self, max_lines: int = 40) -> str:
        """The first Python traceback in the output (a failing rank's own error), or "" if there is none.

        A launcher's last lines only say *that* a rank failed; the rank's traceback, often prefixed with
        ``[rank1]:``, is further up. Lines keep their prefix; the block ends at the exception line.
        """
        lines = self.output.splitlines()
        marker = "Traceback (most recent call last):"
        start = next((i for i, line in enumerate(lines) if marker in line), None)
        if start is None:
            return ""
        prefix = lines[start][: lines[start].index(marker)]
        block = [lines[start]]
        for line in lines[start + 1:]:
            if not line.startswith(prefix) or len(block) >= max_lines:
                break
            block.append(line)
            body = line[len(prefix):]
            if body and not body[0].isspace() and not body.startswith(("Traceback", "During handling", "The above")):
                break  # the exception line, e.g. "ValueError: ..."
        return "\n".join(block)


def launch(command: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None,
           cwd: str | Path | None = None, check: bool = True, hide_gpus: bool = False) -> LaunchResult:
    """Run a launcher command to completion, killing its whole process tree after ``timeout_s`` seconds.

    The child runs in its own session, so a time-out takes the launcher *and* every rank it started. One torch
    thread per process (``OMP_NUM_THREADS=1``) unless ``env`` says otherwise. With ``check`` a non-zero exit or a
    time-out raises :class:`LaunchError` with the tail of the output. ``hide_gpus`` sets ``CUDA_VISIBLE_DEVICES=""``
    for every rank: CPU runs on a machine with too few GPUs (two ranks, one GPU) then take the same code paths in
    torch, ``accelerate`` and ``Trainer`` as on a machine without a GPU, instead of each library deciding on its
    own whether the GPU it can see is meant for it.
    """
    return launch_together([command], timeout_s, env, cwd, check, hide_gpus)[0]


def launch_together(commands: Sequence[Sequence[str]], timeout_s: float, env: Mapping[str, str] | None = None,
                    cwd: str | Path | None = None, check: bool = True,
                    hide_gpus: bool = False) -> list[LaunchResult]:
    """Start several launcher commands at once (e.g. one torchrun per "machine") and wait for all of them.

    The time-out counts for all of them together; when it passes, or when one fails, every process tree is
    killed (a rank whose peers died would otherwise wait in a collective until the group's time-out).
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    if not commands or any(isinstance(c, str) or not c for c in commands):
        raise ValueError("commands must be a non-empty list of argument lists, e.g. [torchrun_command(...)]")
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    if hide_gpus:
        full_env["CUDA_VISIBLE_DEVICES"] = ""
    for name in _LAUNCH_VARIABLES:  # a launcher inside a launched process must not inherit our rank
        full_env.pop(name, None)
    start = time.perf_counter()
    logs = [tempfile.TemporaryFile(mode="w+", encoding="utf-8") for _ in commands]
    processes = [subprocess.Popen(list(c), stdout=log, stderr=subprocess.STDOUT, text=True, env=full_env, cwd=cwd,
                                  start_new_session=True) for c, log in zip(commands, logs)]

    def kill_all() -> None:
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in processes:
            process.wait()

    timed_out = False
    try:
        while any(p.poll() is None for p in processes):
            if time.perf_counter() - start > timeout_s:
                timed_out = True
                break
            if any(p.poll() not in (None, 0) for p in processes):
                break
            time.sleep(0.2)
    finally:
        kill_all()
    seconds = time.perf_counter() - start
    results = []
    for command, process, log in zip(commands, processes, logs):
        log.seek(0)
        results.append(LaunchResult(list(command), process.returncode, seconds, log.read()))
        log.close()
    if timed_out:
        raise LaunchError(f"{' '.join(commands[0][:6])} ... ran past its {timeout_s:.0f} s time-out and was killed "
                          f"with all its processes. Last output:\n{results[0].tail()}")
    failed = [r for r in results if r.returncode != 0]
    if check and failed:
        traceback = failed[0].first_traceback()
        raise LaunchError(f"{' '.join(failed[0].command[:6])} ... exited with code {failed[0].returncode}. "
                          + (f"First error in the output:\n{traceback}\n" if traceback else "")
                          + f"Last output:\n{failed[0].tail(25)}")
    return results


# Parameters whose gradient is zero in exact arithmetic. An attention key bias b adds q.b to every score of a
# query's row, and softmax ignores a constant added to a whole row, so d(loss)/db = 0; what backward returns is
# rounding noise (measured: ~1e-9, against ~1e-3 for the query bias next to it). AdamW divides that noise by its own
# running RMS and turns it into steps of up to the learning rate, so these biases random-walk on rounding noise, and
# two runs that sum the same numbers in a different order (two ranks vs one batch) walk differently. Comparing them
# compares noise, not training.
ZERO_GRADIENT_PARAMETERS = ("attention.self.key.bias",)


def relative_parameter_difference(state: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor],
                                  exclude: Sequence[str] = ZERO_GRADIENT_PARAMETERS) -> float:
    """The largest, over parameter tensors, of ``max|state - reference| / max|reference|``.

    Each tensor's error is measured against its own scale, so a bias near zero does not divide by ~0 and a large
    embedding does not hide a small layer's error. Both must hold the same names and shapes. Tensors whose name
    contains one of ``exclude`` are skipped (by default the zero-gradient key biases: see
    ``ZERO_GRADIENT_PARAMETERS``); pass ``exclude=()`` to compare everything.
    """
    if set(state) != set(reference):
        missing, extra = sorted(set(reference) - set(state)), sorted(set(state) - set(reference))
        raise ValueError(f"the two state dicts differ in names: missing {missing[:3]}, extra {extra[:3]}")
    worst = 0.0
    for name, ref in reference.items():
        if any(part in name for part in exclude):
            continue
        value = state[name]
        if value.shape != ref.shape:
            raise ValueError(f"{name}: shape {tuple(value.shape)} vs {tuple(ref.shape)}")
        if not ref.is_floating_point():
            continue
        scale = ref.detach().double().abs().max().item()
        error = (value.detach().double() - ref.detach().double()).abs().max().item()
        worst = max(worst, error / scale if scale > 0 else error)
    return worst
