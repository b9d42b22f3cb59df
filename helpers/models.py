"""Small BERT and GPT-2 configurations, and one loader for course checkpoints and Hub models.

The models are the real ``transformers`` classes (``BertForMaskedLM``,
``BertForSequenceClassification``, ``GPT2LMHeadModel`` ...) at a size a laptop CPU can train.

:func:`load_pretrained` takes either a course checkpoint (``"course-bert"``, ``"course-gpt"``, or a
folder written by ``save_pretrained``) or a Hub name such as ``"bert-base-chinese"``. Where the Hub
cannot be used (offline flag, no network, a dead endpoint or proxy, a mirror that fails), a Hub name
fails within seconds with a message naming the course checkpoint to use instead and the variables that
matter (:mod:`helpers.hub`), rather than hanging on retries or printing a long network traceback. A
course checkpoint is verified against the SHA-256 hashes of its training record before it loads.
Weights load from safetensors only (never pickle), and no code from a model repository is ever executed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import torch
from transformers import AutoConfig, AutoTokenizer, BertConfig, GPT2Config, PretrainedConfig, PreTrainedModel

from .hub import HubModelUnavailable, load_from_hub, stand_in_for
from .integrity import CheckpointIntegrityError, verify_folder
from .profiles import Profile, get_profile
from .tokenization import load_course_tokenizer

ModelT = TypeVar("ModelT", bound=PreTrainedModel)

CHECKPOINTS_DIR = Path(__file__).resolve().parent / "assets" / "checkpoints"
COURSE_CHECKPOINTS = {
    "course-bert": CHECKPOINTS_DIR / "course-bert",
    "course-gpt": CHECKPOINTS_DIR / "course-gpt",
}
_HUB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def bert_config(profile: Profile | None = None, vocab_size: int | None = None, **overrides) -> BertConfig:
    """A ``BertConfig`` sized by the profile, with the course tokenizer's vocabulary."""
    profile = profile or get_profile()
    tokenizer = load_course_tokenizer()
    size = profile.bert
    settings = dict(
        vocab_size=vocab_size or len(tokenizer),
        hidden_size=size.hidden_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        intermediate_size=size.intermediate_size,
        max_position_embeddings=size.max_positions,
        pad_token_id=tokenizer.pad_token_id,
    )
    settings.update(overrides)
    return BertConfig(**settings)


def gpt_config(profile: Profile | None = None, vocab_size: int | None = None, **overrides) -> GPT2Config:
    """A ``GPT2Config`` sized by the profile; [CLS] starts and [SEP] ends a text, as in uer/gpt2-chinese."""
    profile = profile or get_profile()
    tokenizer = load_course_tokenizer()
    size = profile.gpt
    settings = dict(
        vocab_size=vocab_size or len(tokenizer),
        n_positions=size.max_positions,
        n_embd=size.hidden_size,
        n_layer=size.num_layers,
        n_head=size.num_heads,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    settings.update(overrides)
    return GPT2Config(**settings)


def resolve_source(name_or_path: str | Path) -> tuple[str, bool]:
    """Turn a course alias, a folder or a Hub name into ``(where, is_local)``.

    Raises ``TypeError``/``ValueError`` with a clear message for input that is none of these.
    """
    if isinstance(name_or_path, Path):
        name_or_path = str(name_or_path)
    if not isinstance(name_or_path, str):
        raise TypeError(
            f"Expected a checkpoint name or folder as a str, got {type(name_or_path).__name__}. "
            f"Try one of {sorted(COURSE_CHECKPOINTS)} or a Hub name like 'bert-base-chinese'."
        )
    name = name_or_path.strip()
    if not name:
        raise ValueError(f"Empty model name. Use one of {sorted(COURSE_CHECKPOINTS)} or a Hub name.")
    if name in COURSE_CHECKPOINTS:
        folder = COURSE_CHECKPOINTS[name]
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"The course checkpoint {name!r} is missing from {folder}. Reinstall the course "
                "package, or rebuild it with the pretraining script (lesson 01)."
            )
        return str(folder), True
    if len(name) > 4096:
        raise ValueError(f"A {len(name):,}-character model name is not a course checkpoint, folder or Hub name.")
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser()), True
    if not _HUB_NAME.match(name) or name.startswith((".", "/", "~")):
        raise ValueError(
            f"{name!r} is neither a course checkpoint {sorted(COURSE_CHECKPOINTS)}, nor an existing "
            "folder, nor a valid Hub name like 'bert-base-chinese' or 'uer/gpt2-chinese-cluecorpussmall'."
        )
    return name, False


def load_pretrained(model_class: type[ModelT], name_or_path: str | Path, **kwargs) -> ModelT:
    """Load ``model_class`` from a course checkpoint, a local folder, or a Hub name.

    ``kwargs`` go to ``from_pretrained`` (e.g. ``num_labels=2``). Weights are read from safetensors only.
    A course checkpoint is first checked against the SHA-256 of its training record
    (:func:`verify_checkpoint`). A Hub name goes through :func:`helpers.hub.load_from_hub`: where the Hub
    (or the mirror in ``HF_ENDPOINT``) cannot be used and the model is not cached, it raises
    :class:`HubModelUnavailable` within seconds, naming the course checkpoint to use instead.
    """
    if not (isinstance(model_class, type) and issubclass(model_class, PreTrainedModel)):
        raise TypeError(
            f"model_class must be a transformers model class such as BertForSequenceClassification, "
            f"got {model_class!r}"
        )
    for unsafe in ("trust_remote_code", "use_safetensors"):
        if unsafe in kwargs:
            raise ValueError(f"{unsafe} is fixed by the course (safetensors only, no remote code)")
    kwargs.setdefault("dtype", torch.float32)  # course checkpoints are stored in fp16; compute in fp32
    where, is_local = resolve_source(name_or_path)
    if is_local:
        if isinstance(name_or_path, str) and name_or_path.strip() in COURSE_CHECKPOINTS:
            verify_checkpoint(Path(where), name_or_path.strip())
        return model_class.from_pretrained(where, use_safetensors=True, **kwargs)
    return load_from_hub(lambda name, **options: model_class.from_pretrained(name, use_safetensors=True, **options),
                         where, _stand_in_folder(where), **kwargs)


def verify_checkpoint(folder: Path, label: str | None = None) -> None:
    """Check a course checkpoint's files against its training record (:func:`helpers.integrity.verify_folder`).

    Raises :class:`CheckpointIntegrityError` naming the file that was changed, is missing, or is extra.
    """
    verify_folder(folder, label or folder.name)


def _stand_in_folder(name: str) -> str:
    return str(COURSE_CHECKPOINTS[stand_in_for(name)])


def load_tokenizer(name_or_path: str | Path = "course-bert", **kwargs):
    """The tokenizer that belongs to a checkpoint: the course tokenizer for course models.

    A course alias whose checkpoint folder is not built yet still gets the shipped course tokenizer,
    because every course model uses it; a built one is first verified against its training record. A Hub
    name fails fast and clearly where the Hub cannot be used, as in :func:`load_pretrained`. ``kwargs`` go
    to ``AutoTokenizer.from_pretrained`` for folders and Hub names (e.g. ``cache_dir``).
    """
    if isinstance(name_or_path, str) and name_or_path.strip() in COURSE_CHECKPOINTS:
        folder = COURSE_CHECKPOINTS[name_or_path.strip()]
        if (folder / "tokenizer.json").is_file():
            verify_checkpoint(folder, name_or_path.strip())
            return load_course_tokenizer(folder)
        return load_course_tokenizer()
    where, is_local = resolve_source(name_or_path)
    if is_local:
        return AutoTokenizer.from_pretrained(where, **kwargs)
    return load_from_hub(AutoTokenizer.from_pretrained, where, _stand_in_folder(where),
                         probe_file="tokenizer_config.json", **kwargs)


def load_config(name_or_path: str | Path) -> PretrainedConfig:
    """The config of a course checkpoint, a folder or a Hub name (a Hub name fails fast offline, as models do)."""
    where, is_local = resolve_source(name_or_path)
    if is_local:
        return AutoConfig.from_pretrained(where)
    return load_from_hub(AutoConfig.from_pretrained, where, _stand_in_folder(where))


def estimate_parameters(config: PretrainedConfig) -> int:
    """Parameters of a BERT- or GPT-shaped transformer from its config, without building it.

    Per layer about ``12 * hidden**2`` (attention 4 h², feed-forward 8 h² with the usual 4x width), plus the
    token and position embeddings. Within a few percent of the real count for BERT and GPT-2.
    """
    hidden, layers = config.hidden_size, config.num_hidden_layers
    intermediate = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
    positions = getattr(config, "max_position_embeddings", 512)
    return int(layers * (4 * hidden * hidden + 2 * hidden * intermediate) + (config.vocab_size + positions) * hidden)


BASE_SIZE_PARAMETERS = 30_000_000
"""Above this, a model is "base-sized" (bert-base-chinese: 102M): the gpu profile's full-data settings, sized
for the 4.7M-parameter course models, would overrun a lesson's 5 minutes on a T4, so :func:`profile_for_model`
shrinks them."""


def profile_for_model(profile: Profile, name_or_path: str | Path) -> Profile:
    """The profile resized for the model a lesson actually uses (its ``MODEL_NAME``).

    Course checkpoints keep the profile as it is. A base-sized model (over 30M parameters, e.g.
    ``bert-base-chinese``) runs roughly 20x fewer examples per second than the course model, so the gpu profile
    falls back to the cpu profile's workload (4,000 training reviews, 2 epochs, length 128, lesson 03's and 04's
    smaller run sets) with batch 32 and mixed precision: minutes on a T4, within 16 GB. On the CPU profiles a
    base-sized model is allowed but slow; the lesson says so.
    """
    from dataclasses import replace

    if isinstance(name_or_path, str) and name_or_path.strip() in COURSE_CHECKPOINTS:
        return profile
    parameters = estimate_parameters(load_config(name_or_path))
    if parameters <= BASE_SIZE_PARAMETERS or profile.name != "gpu":
        return profile
    from .profiles import PROFILES

    cpu = PROFILES["cpu"]
    return replace(profile, batch_size=32, eval_batch_size=128, max_length=128, epochs=cpu.epochs,
                   train_examples=cpu.train_examples, label_sizes=cpu.label_sizes,
                   strategy_examples=cpu.strategy_examples, strategy_min_steps=cpu.strategy_min_steps,
                   overfit_epochs=cpu.overfit_epochs, heldout_examples=cpu.heldout_examples,
                   description=f"{profile.description}; resized for a {parameters / 1e6:.0f}M-parameter model")


def describe_config(config: PretrainedConfig) -> dict[str, int | str]:
    """The handful of numbers that define a model's size, for printing."""
    keys = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "max_position_embeddings")  # GPT2Config maps these names onto n_embd, n_layer, ...
    return {key: getattr(config, key) for key in keys}
