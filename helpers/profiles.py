"""Run profiles: one switch that sizes every lesson for the machine it runs on.

A lesson never hard-codes a batch size or a step count; it asks ``get_profile()`` and uses the
numbers it gets. The profile is chosen by the ``COURSE_PROFILE`` environment variable:

* ``smoke`` – continuous integration: every code path runs, in about a minute on 2 CPU cores;
  the numbers it prints are not meant to be good.
* ``cpu`` – the default without a GPU: each lesson designed to run end to end in at most 10 minutes on 2 cores.
* ``gpu`` – the default with CUDA: bigger batches, more steps, mixed precision; at most 5 minutes per lesson.

The measured time of every lesson in each profile is in RESULTS.md (``scripts/run_lessons.py`` measures it).

The value is parsed strictly: anything else raises :class:`ProfileError` listing the valid
names, because a typo that silently fell back to a default would waste a learner's hour.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

PROFILE_ENV_VAR = "COURSE_PROFILE"
VALID_PROFILES = ("smoke", "cpu", "gpu")


class ProfileError(ValueError):
    """Raised for an unknown profile name or a profile the machine cannot run."""


@dataclass(frozen=True)
class ModelSize:
    """The shape of a small transformer: layers, hidden width, attention heads, context length."""

    num_layers: int
    hidden_size: int
    num_heads: int
    max_positions: int

    @property
    def intermediate_size(self) -> int:
        """Width of the feed-forward block (4x hidden, as in BERT and GPT-2)."""
        return 4 * self.hidden_size


@dataclass(frozen=True)
class Profile:
    """Sizes and budgets a lesson should use. Read it, never hard-code these in a notebook."""

    name: str
    description: str
    bert: ModelSize
    gpt: ModelSize
    max_length: int  # tokens per classification example (longer reviews are truncated)
    batch_size: int
    eval_batch_size: int
    train_examples: int | None  # None = the whole training split
    eval_examples: int | None  # None = the whole validation/test split
    epochs: int
    pretrain_steps: int  # optimizer steps for the in-lesson pretraining demos
    pretrain_block_size: int  # tokens per packed pretraining block
    mixed_precision: str | None = None  # None, "fp16" or "bf16"
    heldout_examples: int | None = 500  # validation reviews that choose among many runs, and held-out scores (03, 04, 06)
    min_finetune_steps: int = 300  # fewest optimizer steps of a fine-tuning run, however few the labels (03)
    label_sizes: tuple = (500,)  # lesson 03's live label-efficiency run (the full curve is bench/label_efficiency.py)
    strategy_examples: int | None = 800  # lesson 03's training subset for comparing strategies
    strategy_min_steps: int = 100  # fewest optimizer steps of each strategy run in lesson 03
    overfit_examples: int = 288  # lesson 04's deliberately small training set
    overfit_epochs: int = 6  # lesson 04's (too many) epochs
    noise_seeds: tuple = (0, 1, 2)  # lesson 04 repeats two runs over these seeds to show seed-to-seed noise
    pretrain_texts: int | None = None  # lesson 01: corpus paragraphs to pretrain on (None = all)
    pretrain_heldout_texts: int | None = None  # lesson 01: held-out paragraphs to score (None = all)
    generation_tokens: int = 60  # new characters per generated sample (05)
    generation_samples: int = 5  # samples per sampling strategy (05)
    cache_benchmark_tokens: int = 256  # tokens generated when timing the KV cache (05)
    padding_benchmark_examples: int = 32  # reviews in the batch timed padded to 512 vs dynamically (02)
    judged_generations: int = 200  # generated reviews per control token, judged by the classifiers (06)
    control_train_examples: int | None = None  # reviews the control-token GPT is fine-tuned on; None = all (06)
    few_label_epochs: int = 10  # lesson 11: epochs of the 100-label fine-tuning next to the zero-shot prompt
    subword_vocab_size: int = 8000  # lesson 11: vocabulary of the BPE tokenizer trained on the corpus
    tracking_steps: int = 30  # lesson 11: optimizer steps of the Trainer run logged to TensorBoard
    skipgram_epochs: int = 2  # lesson 11: passes of the skip-gram (word2vec) over the news corpus
    ner_sizes: tuple = (200, 1000)  # lesson 07: training sentences, pretrained vs scratch; None = all (one epoch)
    ner_epochs: float = 8.0  # lesson 07: passes over a NER training subset (the recipe of bench/ner.py)
    ner_min_steps: int = 150  # lesson 07: fewest optimizer steps of a NER run, however few the sentences
    scaling_batch_size: int = 16  # global batch of lesson 09's 1-vs-2-process runs (2 processes take half each) (09)
    scaling_max_length: int = 64  # tokens per review in those runs (09)
    scaling_steps: int = 30  # optimizer steps of those runs (09)
    memory_batch_sizes: tuple = (8, 16, 32, 64)  # batch sizes of the memory-vs-batch-size measurement (09)
    latency_reviews: int = 32  # test reviews timed one at a time (batch 1) and as one batch (08)
    timing_repeats: int = 5  # timed passes per latency figure, after one warm-up pass (08)
    load_test_requests: int = 600  # requests per load test of the service, 10% of them malformed (08)
    load_test_clients: int = 16  # concurrent clients in the load test (08)
    transfer_examples: int | None = 6000  # unlabelled training reviews the teacher scores for the student (08)

    def as_dict(self) -> dict:
        """A plain dict, handy for printing or logging."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="CI: every code path runs in about a minute on 2 CPU cores; numbers are not meaningful",
        bert=ModelSize(num_layers=1, hidden_size=32, num_heads=2, max_positions=128),
        gpt=ModelSize(num_layers=1, hidden_size=32, num_heads=2, max_positions=128),
        max_length=64,
        batch_size=8,
        eval_batch_size=32,
        train_examples=64,
        eval_examples=64,
        epochs=1,
        pretrain_steps=5,
        pretrain_block_size=32,
        heldout_examples=64,
        min_finetune_steps=4,
        label_sizes=(16, 32),
        strategy_examples=32,
        strategy_min_steps=4,
        overfit_examples=16,
        overfit_epochs=2,
        noise_seeds=(0, 1),
        pretrain_texts=400,
        pretrain_heldout_texts=100,
        generation_tokens=8,
        generation_samples=2,
        cache_benchmark_tokens=16,
        padding_benchmark_examples=8,
        judged_generations=8,
        control_train_examples=64,
        few_label_epochs=1,
        subword_vocab_size=300,
        tracking_steps=4,
        skipgram_epochs=1,
        ner_sizes=(16, 32),
        ner_epochs=1.0,
        ner_min_steps=4,
        scaling_batch_size=8,
        scaling_max_length=32,
        scaling_steps=4,
        memory_batch_sizes=(4,),
        latency_reviews=8,
        timing_repeats=1,
        load_test_requests=32,
        transfer_examples=32,
    ),
    "cpu": Profile(
        name="cpu",
        description="default without a GPU: each lesson designed for at most 10 minutes on 2 cores",
        bert=ModelSize(num_layers=4, hidden_size=256, num_heads=4, max_positions=512),
        gpt=ModelSize(num_layers=4, hidden_size=256, num_heads=4, max_positions=512),
        max_length=128,
        batch_size=32,
        eval_batch_size=128,
        train_examples=4000,
        eval_examples=None,
        epochs=2,
        pretrain_steps=300,
        pretrain_block_size=128,
    ),
    "gpu": Profile(
        name="gpu",
        description="default with CUDA: larger batches and more steps, mixed precision; designed for at most 5 minutes per lesson",
        bert=ModelSize(num_layers=4, hidden_size=256, num_heads=4, max_positions=512),
        gpt=ModelSize(num_layers=4, hidden_size=256, num_heads=4, max_positions=512),
        max_length=256,
        batch_size=64,
        eval_batch_size=256,
        train_examples=None,
        eval_examples=None,
        epochs=3,
        pretrain_steps=3000,
        pretrain_block_size=128,
        mixed_precision="fp16",
        heldout_examples=None,
        label_sizes=(100, 500, 2000),
        strategy_examples=2000,
        strategy_min_steps=300,
        overfit_epochs=15,
        ner_sizes=(200, 1000, None),
        scaling_batch_size=64,
        scaling_max_length=128,
        scaling_steps=100,
        memory_batch_sizes=(16, 32, 64, 128),
    ),
}


def default_profile_name() -> str:
    """``gpu`` when CUDA is available, otherwise ``cpu``."""
    return "gpu" if torch.cuda.is_available() else "cpu"


def parse_profile_name(value: str | None) -> str:
    """Validate a profile name exactly as written (surrounding spaces aside).

    ``None`` or an empty string means "not set" and gives the machine's default.
    """
    if value is None or not str(value).strip():
        return default_profile_name()
    if not isinstance(value, str):
        raise ProfileError(
            f"{PROFILE_ENV_VAR} must be a string, got {type(value).__name__}. "
            f"Valid profiles: {', '.join(VALID_PROFILES)}."
        )
    name = value.strip()
    if name not in PROFILES:
        raise ProfileError(
            f"Unknown profile {value!r}. Valid profiles: {', '.join(VALID_PROFILES)} "
            f"(lower case). Set it with e.g. `export {PROFILE_ENV_VAR}=cpu`, or unset it to get "
            f"the machine's default ({default_profile_name()})."
        )
    return name


def get_profile(name: str | None = None) -> Profile:
    """Return the active :class:`Profile`.

    ``name`` overrides the environment; otherwise ``COURSE_PROFILE`` is read; otherwise the
    machine's default. Asking for ``gpu`` on a machine without CUDA is an error, not a silent
    fallback, because its batch sizes would not fit a CPU's time budget.
    """
    chosen = parse_profile_name(name if name is not None else os.environ.get(PROFILE_ENV_VAR))
    if chosen == "gpu" and not torch.cuda.is_available():
        raise ProfileError(
            "Profile 'gpu' needs a CUDA GPU, and torch sees none. Use 'cpu' on this machine "
            f"(`export {PROFILE_ENV_VAR}=cpu`), or on Colab pick Runtime > Change runtime type > GPU."
        )
    if chosen == "gpu":
        return replace(PROFILES["gpu"], mixed_precision=gpu_mixed_precision())
    return PROFILES[chosen]


def gpu_mixed_precision(device_index: int = 0) -> str:
    """``"bf16"`` on GPUs with native bf16 (compute capability 8.0 or higher: A100, L4, H100), else ``"fp16"``.

    ``torch.cuda.is_bf16_supported()`` is not enough: it also says yes on a T4 (capability 7.5), where bf16 is
    emulated and slower than fp32. fp16 there needs a gradient scaler, which :mod:`helpers.training` adds.
    """
    major, _minor = torch.cuda.get_device_capability(device_index)
    return "bf16" if major >= 8 else "fp16"


def get_device(profile: Profile | None = None) -> torch.device:
    """The device a lesson should train on: CUDA for the gpu profile, else the CPU."""
    profile = profile or get_profile()
    return torch.device("cuda" if profile.name == "gpu" else "cpu")


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a rerun gives the same numbers."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
