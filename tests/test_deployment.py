"""The cached lesson-02 classifier: trained once per profile and recipe, then loaded (safetensors only)."""

from dataclasses import replace

import numpy as np
import pytest

from helpers.classification import predict_logits, tokenize_dataset
from helpers.data import head, load_reviews
from helpers.deployment import classifier_folder, is_cached, load_or_train_classifier, recipe_for
from helpers.profiles import get_profile


def test_the_cache_key_follows_profile_and_recipe(tmp_path):
    smoke, cpu = get_profile("smoke"), get_profile("cpu")
    assert classifier_folder(smoke, tmp_path).name.startswith("sentiment-smoke-")
    assert classifier_folder(cpu, tmp_path).name.startswith("sentiment-cpu-")
    assert recipe_for(smoke).digest() != recipe_for(replace(smoke, epochs=smoke.epochs + 1)).digest()
    assert recipe_for(smoke).digest() == recipe_for(get_profile("smoke")).digest()


def test_bad_profile_is_refused():
    with pytest.raises(TypeError, match="Profile"):
        recipe_for("smoke")


def test_trains_once_then_loads_the_same_weights(tmp_path):
    profile = get_profile("smoke")
    first = load_or_train_classifier(profile, root=tmp_path, progress=False)
    assert first.trained_now and is_cached(first.folder)
    assert not list(first.folder.glob("*.bin")) and (first.folder / "model.safetensors").is_file()
    assert first.record["profile"] == "smoke" and 0 <= first.record["validation_accuracy"] <= 1
    again = load_or_train_classifier(profile, root=tmp_path, progress=False)
    assert not again.trained_now and again.folder == first.folder
    sample = tokenize_dataset(head(load_reviews()["test"], 16), first.tokenizer, profile.max_length)
    np.testing.assert_array_equal(predict_logits(first.model, sample, first.tokenizer),
                                  predict_logits(again.model, sample, again.tokenizer))
    assert again.model.config.id2label[1] == "positive"


def test_lesson_results_are_saved_as_plain_json(tmp_path):
    import json

    import pandas as pd

    from helpers.deployment import save_lesson_results

    table = pd.DataFrame({"variant": ["fp32", "int8"], "ms": [np.float32(2.5), 1.5]}).set_index("variant")
    path = save_lesson_results(get_profile("smoke"), "08_deployment", {"table": table, "flag": np.bool_(True),
                                                                       "nested": {"n": np.int64(3)}},
                               root=tmp_path / "deployment")
    assert path == tmp_path / "results" / "08_deployment_smoke.json"
    saved = json.loads(path.read_text())
    assert saved["table"] == [{"variant": "fp32", "ms": 2.5}, {"variant": "int8", "ms": 1.5}]
    assert saved["flag"] is True and saved["nested"] == {"n": 3} and "load average" in saved["load"]
    assert saved["command"] == "python scripts/run_lessons.py --profile smoke 08"
