"""The model lesson 08 deploys: lesson 02's sentiment classifier, trained once per profile and cached.

Lesson 08 compresses, exports and serves a fine-tuned classifier; the load test (``bench/load_test.py``) and the
service's tests need the same one. Training it takes minutes on a CPU, so :func:`load_or_train_classifier`
trains it once with lesson 02's recipe (``course-bert``, a balanced subset of ``profile.train_examples`` training
reviews, ``profile.epochs`` epochs, learning rate 1e-4, ``profile.max_length`` tokens, the epoch chosen on
validation by :func:`helpers.classification.train_classifier`) and saves it as safetensors under
``build/deployment/`` (git-ignored). The folder name holds the profile and a digest of the recipe, including the
SHA-256 of the base checkpoint, so a changed recipe or a new ``course-bert`` trains a new model instead of
silently reusing a stale one. A file lock keeps two processes (a lesson and a test run) from training at once.

The cached folder is an ordinary ``save_pretrained`` folder (``config.json``, ``model.safetensors``, the
tokenizer) plus ``training_record.json``; ``python -m helpers.serve --model FOLDER`` serves it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from filelock import FileLock
from transformers import BertForSequenceClassification, PreTrainedTokenizerBase

from .checkpoints import sha256
from .classification import FineTuneSettings, balanced_subset, tokenize_dataset, train_classifier
from .data import head, load_reviews
from .env import hardware
from .models import COURSE_CHECKPOINTS, load_pretrained, load_tokenizer
from .profiles import Profile, get_device, set_seed

CACHE_ENV_VAR = "COURSE_CACHE_DIR"  # where cached models go; default: build/deployment in the repository
RECORD_NAME = "training_record.json"
BASE_CHECKPOINT = "course-bert"
LEARNING_RATE = 1e-4  # lesson 02's learning rate


@dataclass(frozen=True)
class ClassifierRecipe:
    """Everything that decides which classifier comes out of training (lesson 02's recipe for a profile)."""

    base: str
    base_sha256: str
    train_examples: int | None
    validation_examples: int | None
    epochs: int
    batch_size: int
    learning_rate: float
    max_length: int
    seed: int = 0

    def digest(self) -> str:
        """A short hash of the recipe: part of the cache folder's name."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


@dataclass
class CachedClassifier:
    """A loaded classifier: the model (eval mode), its tokenizer, the folder it lives in, and its training record."""

    model: BertForSequenceClassification
    tokenizer: PreTrainedTokenizerBase
    folder: Path
    record: dict
    trained_now: bool


def recipe_for(profile: Profile) -> ClassifierRecipe:
    """Lesson 02's recipe, sized by ``profile``."""
    if not isinstance(profile, Profile):
        raise TypeError(f"expected a Profile (from helpers.profiles.get_profile()), got {type(profile).__name__}")
    return ClassifierRecipe(
        base=BASE_CHECKPOINT,
        base_sha256=sha256(COURSE_CHECKPOINTS[BASE_CHECKPOINT] / "model.safetensors")[:16],
        train_examples=profile.train_examples,
        validation_examples=profile.eval_examples,
        epochs=profile.epochs,
        batch_size=profile.batch_size,
        learning_rate=LEARNING_RATE,
        max_length=profile.max_length,
    )


def cache_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$COURSE_CACHE_DIR``, else ``build/deployment`` next to the ``helpers`` package."""
    if root is not None:
        return Path(root)
    if os.environ.get(CACHE_ENV_VAR, "").strip():
        return Path(os.environ[CACHE_ENV_VAR].strip())
    return Path(__file__).resolve().parents[1] / "build" / "deployment"


def classifier_folder(profile: Profile, root: str | Path | None = None) -> Path:
    """Where the profile's classifier is (or will be) cached: ``<root>/sentiment-<profile>-<recipe digest>``."""
    return cache_root(root) / f"sentiment-{profile.name}-{recipe_for(profile).digest()}"


def is_cached(folder: Path) -> bool:
    """A complete cached classifier: weights, config, tokenizer and record all present."""
    return all((folder / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json", RECORD_NAME))


def _train(profile: Profile, recipe: ClassifierRecipe, folder: Path, progress: bool) -> dict:
    reviews = load_reviews()
    tokenizer = load_tokenizer(recipe.base)
    train_raw = balanced_subset(reviews["train"], recipe.train_examples) if recipe.train_examples else reviews["train"]
    train = tokenize_dataset(train_raw, tokenizer, recipe.max_length)
    validation = tokenize_dataset(head(reviews["validation"], recipe.validation_examples), tokenizer, recipe.max_length)
    set_seed(recipe.seed)
    model = load_pretrained(BertForSequenceClassification, recipe.base, num_labels=2,
                            id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    # Train where the profile trains (the GPU in the gpu profile); serving and latency are measured on the CPU later.
    device = get_device(profile)
    model.to(device)
    settings = FineTuneSettings(epochs=recipe.epochs, batch_size=recipe.batch_size, learning_rate=recipe.learning_rate,
                                seed=recipe.seed, mixed_precision=profile.mixed_precision)
    result = train_classifier(model, train, validation, tokenizer, settings, progress=progress)
    model.to(torch.device("cpu"))
    record = {
        "recipe": asdict(recipe),
        "profile": profile.name,
        "train_examples": len(train),
        "validation_examples": len(validation),
        "best_epoch": result.best_epoch,
        "validation_accuracy": result.best_validation_accuracy,
        "history": result.history,
        "training_seconds": round(result.seconds, 1),
        "hardware": hardware(device),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
    }
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        model.save_pretrained(staging)  # safetensors
        tokenizer.save_pretrained(staging)
        (staging / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)  # all or nothing: a half-written folder is never mistaken for a cached model
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


def load_or_train_classifier(profile: Profile, root: str | Path | None = None, retrain: bool = False,
                             progress: bool = True) -> CachedClassifier:
    """The profile's fine-tuned sentiment classifier: loaded from the cache, or trained now and cached.

    ``retrain=True`` trains again even when a cached model exists. The model comes back on the CPU in eval mode
    (serving and the latency measurements of lesson 08 are CPU figures). Weights load from safetensors only.
    """
    recipe = recipe_for(profile)
    folder = classifier_folder(profile, root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    trained_now = False
    with FileLock(str(folder) + ".lock"):
        if retrain or not is_cached(folder):
            _train(profile, recipe, folder, progress)
            trained_now = True
    record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    model = load_pretrained(BertForSequenceClassification, folder).to(torch.device("cpu")).eval()
    return CachedClassifier(model, load_tokenizer(folder), folder, record, trained_now)


def save_lesson_results(profile: Profile, lesson: str, results: dict, root: str | Path | None = None) -> Path:
    """Write a lesson's measured figures to ``<root>/results/<lesson>_<profile>.json`` (``root``: the cache root's
    parent, ``build/`` by default), with the hardware, the load average and the date; returns the path.

    ``bench/collect_deployment.py`` copies lesson 08's file into ``bench/results/deployment.json``. DataFrames are
    stored as lists of records.
    """
    import pandas as pd

    from .loadtest import machine_load

    def plain(value):
        if isinstance(value, pd.DataFrame):
            return json.loads(value.reset_index().to_json(orient="records"))
        if isinstance(value, dict):
            return {str(key): plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if hasattr(value, "item"):  # NumPy scalars
            return value.item()
        return value

    folder = cache_root(root).parent / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{lesson}_{profile.name}.json"
    record = {"lesson": lesson, "profile": profile.name, "hardware": hardware("cpu"), "load": machine_load(),
              "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "command": f"python scripts/run_lessons.py --profile {profile.name} {lesson[:2]}", **plain(results)}
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
