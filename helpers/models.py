"""Small BERT and GPT-2 configurations, and one loader for course checkpoints and Hub models.

The models are the real ``transformers`` classes (``BertForMaskedLM``,
``BertForSequenceClassification``, ``GPT2LMHeadModel`` ...) at a size a laptop CPU can train.

:func:`load_pretrained` takes either a course checkpoint (``"course-bert"``, ``"course-gpt"``, or a
folder written by ``save_pretrained``) or a Hub name such as ``"bert-base-chinese"``. Offline, a Hub
name fails at once with a message naming the course checkpoint to use instead, rather than
hanging on retries or printing a long network traceback. Weights load from safetensors only
(never pickle), and no code from a model repository is ever executed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import torch
from transformers import AutoTokenizer, BertConfig, GPT2Config, PretrainedConfig, PreTrainedModel

from .env import hub_reachable, offline_by_setting
from .profiles import Profile, get_profile
from .tokenization import load_course_tokenizer

ModelT = TypeVar("ModelT", bound=PreTrainedModel)

CHECKPOINTS_DIR = Path(__file__).resolve().parent / "assets" / "checkpoints"
COURSE_CHECKPOINTS = {
    "course-bert": CHECKPOINTS_DIR / "course-bert",
    "course-gpt": CHECKPOINTS_DIR / "course-gpt",
}
# Which course checkpoint stands in for which kind of Hub model, for the offline error message.
_OFFLINE_STAND_IN = {"bert": "course-bert", "gpt": "course-gpt"}
_HUB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


class HubModelUnavailable(RuntimeError):
    """A Hub model was asked for, but the Hub cannot be reached and the model is not cached."""


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


def _stand_in_for(name: str) -> str:
    lowered = name.lower()
    return _OFFLINE_STAND_IN["gpt"] if "gpt" in lowered else _OFFLINE_STAND_IN["bert"]


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


def _offline_message(name: str, reason: str) -> str:
    stand_in = _stand_in_for(name)
    return (
        f"Cannot load {name!r}: it lives on the Hugging Face Hub and {reason}, and it is not in the "
        f"local cache. Use the offline course checkpoint instead: set the lesson's model variable to "
        f"{stand_in!r} (files in {COURSE_CHECKPOINTS[stand_in]}). Hub models download on first use "
        "only where the Hub is reachable and HF_HUB_OFFLINE is unset (e.g. on Colab)."
    )


def _offline_reason() -> str | None:
    if offline_by_setting():
        return "HF_HUB_OFFLINE is set"
    if not hub_reachable():
        return "the Hub cannot be reached (no network connection)"
    return None


def load_pretrained(model_class: type[ModelT], name_or_path: str | Path, **kwargs) -> ModelT:
    """Load ``model_class`` from a course checkpoint, a local folder, or a Hub name.

    ``kwargs`` go to ``from_pretrained`` (e.g. ``num_labels=2``). Weights are read from
    safetensors only. Offline, a Hub name not already cached raises :class:`HubModelUnavailable`.
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
        return model_class.from_pretrained(where, use_safetensors=True, **kwargs)
    reason = _offline_reason()
    if reason is None:
        return model_class.from_pretrained(where, use_safetensors=True, **kwargs)
    try:
        return model_class.from_pretrained(where, use_safetensors=True, local_files_only=True, **kwargs)
    except OSError as error:
        raise HubModelUnavailable(_offline_message(where, reason)) from error


def load_tokenizer(name_or_path: str | Path = "course-bert"):
    """The tokenizer that belongs to a checkpoint: the course tokenizer for course models.

    A course alias whose checkpoint folder is not built yet still gets the shipped course tokenizer,
    because every course model uses it.
    """
    if isinstance(name_or_path, str) and name_or_path.strip() in COURSE_CHECKPOINTS:
        folder = COURSE_CHECKPOINTS[name_or_path.strip()]
        return load_course_tokenizer(folder if (folder / "tokenizer.json").is_file() else None)
    where, is_local = resolve_source(name_or_path)
    if is_local:
        return AutoTokenizer.from_pretrained(where)
    reason = _offline_reason()
    if reason is None:
        return AutoTokenizer.from_pretrained(where)
    try:
        return AutoTokenizer.from_pretrained(where, local_files_only=True)
    except OSError as error:
        raise HubModelUnavailable(_offline_message(where, reason)) from error


def describe_config(config: PretrainedConfig) -> dict[str, int | str]:
    """The handful of numbers that define a model's size, for printing."""
    keys = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "max_position_embeddings")  # GPT2Config maps these names onto n_embd, n_layer, ...
    return {key: getattr(config, key) for key in keys}
