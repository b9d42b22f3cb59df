"""Distributed training computes what one process computes: DDP, accumulation, accelerate and Trainer, measured.

One launch runs the training script's ``ddp``, ``accelerate`` and ``trainer`` engines one after the other in the
same two processes, started the multi-machine way on one machine: two ``accelerate launch --num_machines=2
--machine_rank=K --main_process_ip=127.0.0.1`` commands (accelerate's torchrun-based launcher: ``torchrun
--nnodes=2 --node_rank=K`` underneath), one process each, gloo over the loopback address. So the tests also cover
``accelerate launch`` and a two-node rendezvous; the lesson launches ``torchrun --nproc_per_node=2``. The
one-process references run inside this test process. Small sizes: course-bert, 160 reviews of at most 32 tokens,
20 optimizer steps of 8 examples (2 ranks x 4, or 1 process x 8, or 2 micro-batches x 4).

The tolerance. All arms see the same 8 examples at every step (the same permutation, the same model start, dropout
off), so they differ only in how the same sums are grouped: two ranks' means averaged by an all-reduce, two
micro-batches' means added, or one batch's mean. fp32 rounds each grouping differently (unit roundoff 6e-8), AdamW
then divides every gradient coordinate by its own running RMS, which turns a relative gradient error into the
same relative error of that coordinate's step (large only where a coordinate's gradient is itself a near-cancelling
sum). Measured after 20 steps at lr 1e-4 the largest per-tensor difference is 2.5e-6 to 1e-5 of the tensor's
largest weight; 1e-5 (the course's target) leaves room for that and is far below what any real discrepancy gives:
one process with batch 4 instead of 8 (different examples per step) differs by more than 1e-3, checked below.
The attention key biases are left out of the comparison and shown to have no gradient (see
``helpers.distributed.ZERO_GRADIENT_PARAMETERS``).
"""

import os

import pytest
import torch
import torch.distributed as dist

from helpers.distributed import (EpochPermutation, accelerate_command, LaunchError, ZERO_GRADIENT_PARAMETERS, distributed_session,
                                 free_port, launch, launch_environment, launch_together,
                                 rank_seed, relative_parameter_difference)
from helpers.train_distributed import RunSettings, evaluation_shard, load_run, parse_args, run

TOLERANCE = 1e-5
STEPS = 20
# On the CPU in every arm, also on a machine with one GPU: the launched ranks have the GPU hidden from them
# (``hide_gpus``), and the one-process reference must compute on the same hardware as they do.
SIZES = dict(train_examples=160, eval_examples=32, max_length=32, max_steps=STEPS, dropout=0.0, log_every=10,
             device="cpu")
LAUNCH_TIMEOUT_S = 420  # the machine is shared: a launch takes ~20 s alone and several times that under load


def _args(**settings) -> list[str]:
    flags = []
    for key, value in settings.items():
        flags += [f"--{key.replace('_', '-')}", str(value)]
    return flags


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """Rank 0's results of the ddp, accelerate and trainer engines, 2 processes x batch 4, on two loopback "machines"."""
    output = tmp_path_factory.mktemp("two-machines")
    arguments = ["--engines", "ddp,accelerate,trainer", "--output", str(output), *_args(**SIZES, batch_size=4)]
    port = free_port()
    commands = [accelerate_command("helpers.train_distributed", arguments, num_processes=2, port=port,
                                   num_machines=2, machine_rank=machine) for machine in (0, 1)]
    results = launch_together(commands, timeout_s=LAUNCH_TIMEOUT_S, hide_gpus=True)
    return {engine: load_run(output / engine) for engine in ("ddp", "accelerate", "trainer")}, results


@pytest.fixture(scope="module")
def one_process():
    """The reference: one process, batch 8 (= 2 ranks x 4), the same 20 steps."""
    return run(RunSettings(**SIZES, batch_size=8))


def test_ddp_on_two_processes_matches_one_process_with_twice_the_batch(launched, one_process):
    history, state = launched[0]["ddp"]
    assert history["world_size"] == 2 and history["backend"] == "gloo" and history["global_batch"] == 8
    difference = relative_parameter_difference(state, one_process["state"])
    assert difference <= TOLERANCE, f"DDP vs one process: {difference:.2e} > {TOLERANCE}"
    losses = [row["loss"] for row in history["steps"]]
    reference = [row["loss"] for row in one_process["steps"]]
    assert len(losses) == STEPS and losses == pytest.approx(reference, rel=1e-5)
    assert history["validation"]["examples"] == SIZES["eval_examples"]  # every row scored once, none twice


def test_ranks_take_disjoint_halves_of_the_same_global_batch(launched, one_process):
    history, _ = launched[0]["ddp"]
    shards = [set(rank["first_step_examples"]) for rank in history["per_rank"]]
    assert len(shards) == 2 and not shards[0] & shards[1]
    assert shards[0] | shards[1] == set(one_process["per_rank"][0]["first_step_examples"])


def test_only_rank_zero_printed(launched):
    _, results = launched
    node0, node1 = (result.output for result in results)
    assert "step 20/20" in node0 and "done:" in node0
    assert "step " not in node1 and "done:" not in node1  # rank 1 trains silently


def test_trainer_under_torchrun_matches_the_hand_written_ddp_loop(launched):
    (trainer, trainer_state), (loop, loop_state) = launched[0]["trainer"], launched[0]["ddp"]
    difference = relative_parameter_difference(trainer_state, loop_state)
    assert difference <= TOLERANCE, f"Trainer vs DDP loop: {difference:.2e}"
    assert [r["loss"] for r in trainer["steps"]] == pytest.approx([r["loss"] for r in loop["steps"]], rel=1e-4)
    assert [r["learning_rate"] for r in trainer["steps"]] == pytest.approx([r["learning_rate"] for r in loop["steps"]])


def test_accelerate_matches_the_hand_written_ddp_loop(launched):
    (_, accelerate_state), (_, loop_state) = launched[0]["accelerate"], launched[0]["ddp"]
    difference = relative_parameter_difference(accelerate_state, loop_state)
    assert difference <= TOLERANCE, f"accelerate vs DDP loop: {difference:.2e}"


def test_accumulating_two_micro_batches_matches_one_batch_of_twice_the_size(one_process):
    accumulated = run(RunSettings(**SIZES, batch_size=4, accumulation_steps=2))
    difference = relative_parameter_difference(accumulated["state"], one_process["state"])
    assert difference <= TOLERANCE, f"accumulation vs one batch: {difference:.2e}"
    assert [r["loss"] for r in accumulated["steps"]] == pytest.approx([r["loss"] for r in one_process["steps"]],
                                                                     rel=1e-5)


def test_accumulation_divides_the_loss_sgd_shows_it():
    """AdamW hardly notices a gradient twice too large (it divides by the gradient's scale); plain SGD does."""
    sizes = {**SIZES, "max_steps": 8, "optimizer": "sgd", "learning_rate": 0.05, "max_grad_norm": None}
    whole = run(RunSettings(**sizes, batch_size=8))
    accumulated = run(RunSettings(**sizes, batch_size=4, accumulation_steps=2))
    assert relative_parameter_difference(accumulated["state"], whole["state"]) <= TOLERANCE
    doubled = run(RunSettings(**{**sizes, "learning_rate": 0.1}, batch_size=8))  # = forgetting loss / 2
    assert relative_parameter_difference(doubled["state"], whole["state"]) > 100 * TOLERANCE


def test_the_tolerance_catches_a_different_batch(one_process):
    half = run(RunSettings(**SIZES, batch_size=4))  # what each rank would do alone, without the all-reduce
    assert relative_parameter_difference(half["state"], one_process["state"]) > 100 * TOLERANCE


def test_attention_key_biases_really_have_no_gradient():
    from transformers import DataCollatorWithPadding

    from helpers.train_distributed import build_model, prepare_data

    settings = RunSettings(**SIZES, batch_size=8)
    tokenizer, train, _ = prepare_data(settings)
    model = build_model(settings)
    model(**DataCollatorWithPadding(tokenizer)([train[i] for i in range(16)])).loss.backward()
    gradients = {name: p.grad.norm().item() for name, p in model.named_parameters()}
    for name, norm in gradients.items():
        if any(part in name for part in ZERO_GRADIENT_PARAMETERS):
            query = gradients[name.replace("key.bias", "query.bias")]
            assert norm < 1e-5 * query, f"{name}: gradient norm {norm:.1e} vs {query:.1e} for the query bias"


# --------------------------------------------------------------------------------------------- unit-level checks

def test_epoch_permutation_is_the_order_distributed_sampler_shards():
    from torch.utils.data.distributed import DistributedSampler

    data = list(range(50))
    for epoch in (0, 3):
        order = EpochPermutation(50, seed=7)
        order.set_epoch(epoch)
        shards = []
        for rank in range(2):
            sampler = DistributedSampler(data, num_replicas=2, rank=rank, shuffle=True, seed=7, drop_last=True)
            sampler.set_epoch(epoch)
            shards.append(list(sampler))
        assert list(order)[0::2] == shards[0] and list(order)[1::2] == shards[1]
    assert list(EpochPermutation(50, seed=7, multiple=8)) == list(EpochPermutation(50, seed=7))[:48]


def test_evaluation_shard_scores_every_row_exactly_once():
    for n, world in ((32, 2), (33, 2), (10, 3), (2, 4)):
        weighted = {}
        lengths = set()
        for rank in range(world):
            rows, weights = evaluation_shard(n, rank, world)
            lengths.add(len(rows))
            for row, weight in zip(rows, weights):
                weighted[row] = weighted.get(row, 0) + weight
        assert lengths == {-(-n // world)}  # every rank runs the same number of rows (FSDP's forward is collective)
        assert weighted == {row: 1.0 for row in range(n)}


def test_rank_seeds_differ_between_ranks_and_reject_negatives():
    assert len({rank_seed(0, rank) for rank in range(8)}) == 8
    assert rank_seed(5, 0) == 5
    with pytest.raises(ValueError, match="must be >= 0"):
        rank_seed(-1, 0)


def test_launch_environment_reads_and_checks_the_launcher_variables(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launch_environment() == (0, 1, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="0 <= RANK < WORLD_SIZE"):
        launch_environment()
    monkeypatch.setenv("RANK", "one")
    with pytest.raises(ValueError, match="not an integer"):
        launch_environment()


def test_distributed_session_destroys_the_group_also_on_error(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    with pytest.raises(RuntimeError, match="boom"):
        with distributed_session(use_cuda=False):
            raise RuntimeError("boom")
    assert not dist.is_initialized()


def test_launch_kills_the_whole_tree_after_the_timeout():
    with pytest.raises(LaunchError, match="time-out"):
        launch(["bash", "-c", "sleep 30 & sleep 30"], timeout_s=1)
    with pytest.raises(LaunchError, match="exited with code 3"):
        launch(["bash", "-c", "echo oops; exit 3"], timeout_s=20)
    assert launch(["bash", "-c", "echo $OMP_NUM_THREADS"], timeout_s=20).output.strip() == "1"


def test_hide_gpus_empties_cuda_visible_devices_for_the_ranks_only(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    show = ["bash", "-c", "echo \"[${CUDA_VISIBLE_DEVICES-unset}]\""]
    assert launch(show, timeout_s=20).output.strip() == "[0]"
    assert launch(show, timeout_s=20, hide_gpus=True).output.strip() == "[]"
    assert launch_together([show, show], timeout_s=20, hide_gpus=True)[1].output.strip() == "[]"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"


def test_a_failing_rank_s_own_traceback_is_in_the_error_not_only_the_launcher_summary():
    rank_error = ("import sys\n"
                  "sys.stderr.write('[rank1]: Traceback (most recent call last):\\n[rank1]:   File \"x.py\", line 1\\n'\n"
                  "                 '[rank1]: RuntimeError: invalid device ordinal\\n[rank0]: unrelated\\n')\n"
                  "print('\\n'.join(f'summary line {i}' for i in range(40)))\n"
                  "sys.exit(1)\n")
    with pytest.raises(LaunchError) as caught:
        launch(["python", "-c", rank_error], timeout_s=20)
    message = str(caught.value)
    assert "[rank1]: RuntimeError: invalid device ordinal" in message  # 40 lines above the tail
    first_error = message.split("First error in the output:")[1].split("Last output:")[0]
    assert first_error.strip().endswith("[rank1]: RuntimeError: invalid device ordinal")
    assert "[rank0]" not in first_error
    assert "summary line 39" in message


def test_relative_parameter_difference_is_per_tensor_and_checks_names():
    reference = {"a": torch.tensor([1.0, -2.0]), "b": torch.tensor([1e-3, 0.0])}
    assert relative_parameter_difference(reference, reference) == 0.0
    shifted = {"a": torch.tensor([1.0, -2.0]), "b": torch.tensor([1.1e-3, 0.0])}
    assert relative_parameter_difference(shifted, reference) == pytest.approx(0.1)  # small tensor, own scale
    with pytest.raises(ValueError, match="differ in names"):
        relative_parameter_difference({"a": reference["a"]}, reference)
    with pytest.raises(ValueError, match="shape"):
        relative_parameter_difference({"a": torch.zeros(3), "b": reference["b"]}, reference)


def test_settings_and_flags_reject_bad_values_with_a_hint():
    runs = parse_args(["--engines", "ddp,trainer", "--output", "out", "--batch-size", "4", "--checkpointing",
                       "--threads", "2"])
    assert runs[1].threads == 2
    assert [r.engine for r in runs] == ["ddp", "trainer"] and runs[1].output == os.path.join("out", "trainer")
    assert runs[0].batch_size == 4 and runs[0].checkpointing
    with pytest.raises(SystemExit):
        parse_args(["--engines", "horovod"])
    with pytest.raises(ValueError, match="fewer than one optimizer step"):
        RunSettings(train_examples=10, batch_size=8).steps_per_epoch(world_size=2)
    with pytest.raises(ValueError, match="precision must be one of"):
        RunSettings(precision="fp8").validate()


def test_launch_commands_name_the_rendezvous_and_the_module():
    from helpers.distributed import torchrun_command

    command = torchrun_command("helpers.train_distributed", ["--max-steps=2"], nproc_per_node=2, port=29501,
                               nnodes=2, node_rank=1, master_addr="10.0.0.1")
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert {"--nnodes=2", "--node_rank=1", "--nproc_per_node=2", "--rdzv_endpoint=10.0.0.1:29501"} <= set(command)
    assert command[-3:] == ["-m", "helpers.train_distributed", "--max-steps=2"]
    accelerate = accelerate_command("helpers.train_distributed", [], num_processes=4, port=29502, num_machines=2,
                                    machine_rank=1)
    assert {"--multi_gpu", "--num_processes=4", "--num_machines=2", "--machine_rank=1"} <= set(accelerate)
    with pytest.raises(ValueError, match="node_rank"):
        torchrun_command("m", nnodes=2, node_rank=2)
