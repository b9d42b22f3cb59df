"""helpers.token_classification: alignment, seqeval metrics, error breakdown, constrained Viterbi, training."""

import itertools

import numpy as np
import pytest
from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score
from transformers import BertForTokenClassification

from helpers import token_classification as tc
from helpers.models import bert_config
from helpers.ner import ID2LABEL, LABEL2ID, LABEL_NAMES, make_dataset
from helpers.profiles import get_profile
from helpers.tokenization import load_course_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_course_tokenizer()


@pytest.fixture(scope="module")
def tiny_model():
    import torch

    torch.manual_seed(0)
    return BertForTokenClassification(bert_config(get_profile("smoke"), num_labels=len(LABEL_NAMES),
                                                  id2label=dict(ID2LABEL), label2id=dict(LABEL2ID)))


SENTENCES = [
    (list("江泽民在北京会见新华社记者。"), ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O",
                                        "B-ORG", "I-ORG", "I-ORG", "O", "O", "O"]),
    (list("气温－５℃…"), ["O"] * 6),
]


# --- alignment -------------------------------------------------------------------------------------------------

def test_align_labels_first_piece_and_special_tokens():
    word_ids = [None, 0, 1, 1, 2, None]
    assert tc.align_labels(word_ids, [1, 3, 0]) == [-100, 1, 3, -100, 0, -100]
    assert tc.align_labels(word_ids, [1, 3, 0], label_all_pieces=True) == [-100, 1, 3, 4, 0, -100]  # B-LOC -> I-LOC
    with pytest.raises(ValueError, match="word id 2 has no label"):
        tc.align_labels(word_ids, [1, 3])


def test_tokenize_and_align_with_the_course_tokenizer(tokenizer):
    aligned = tc.tokenize_and_align(make_dataset(SENTENCES), tokenizer)
    first = aligned[0]
    assert first["labels"][0] == first["labels"][-1] == -100  # [CLS], [SEP]
    assert [label for label in first["labels"] if label != -100] == [LABEL2ID[t] for t in SENTENCES[0][1]]
    second = aligned[1]
    assert len(second["input_ids"]) > len(SENTENCES[1][0]) + 2  # … is three tokens, ℃ two
    assert sum(label != -100 for label in second["labels"]) == len(SENTENCES[1][0])  # still one label per character


def test_tokenize_and_align_refuses_bad_input(tokenizer):
    from datasets import Dataset

    with pytest.raises(ValueError, match="lacks the columns"):
        tc.tokenize_and_align(Dataset.from_dict({"text": ["江泽民"]}), tokenizer)

    class SlowTokenizer:
        is_fast = False

    with pytest.raises(TypeError, match="fast tokenizer"):
        tc.tokenize_and_align(make_dataset(SENTENCES), SlowTokenizer())


# --- metrics -----------------------------------------------------------------------------------------------------

GOLD = [["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["B-ORG", "I-ORG", "O", "B-LOC"], ["O", "O"]]
PREDICTED = [["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"], ["B-LOC", "I-LOC", "O", "B-LOC"], ["I-PER", "O"]]


def test_entity_report_is_seqeval():
    report = tc.entity_report(GOLD, PREDICTED)
    assert report["micro"]["f1"] == pytest.approx(f1_score(GOLD, PREDICTED))
    assert report["micro"]["precision"] == pytest.approx(precision_score(GOLD, PREDICTED))
    assert report["micro"]["recall"] == pytest.approx(recall_score(GOLD, PREDICTED))
    assert report["token_accuracy"] == pytest.approx(accuracy_score(GOLD, PREDICTED))
    assert report["LOC"]["support"] == 2 and report["LOC"]["f1"] == pytest.approx(0.8)
    assert report["o_share"] == pytest.approx(4 / 12)


@pytest.mark.parametrize("gold,predicted,message", [
    (GOLD, PREDICTED[:2], "3 gold sentences but 2"),
    ([["O", "O"]], [["O"]], "sentence 0: 2 gold tags but 1"),
    ([], [], "no sentences"),
])
def test_entity_report_refuses_mismatches(gold, predicted, message):
    with pytest.raises(ValueError, match=message):
        tc.entity_report(gold, predicted)


def test_compute_metrics_ignores_minus_100():
    labels = np.array([[-100, 1, 2, 0, -100], [-100, 3, 4, -100, -100]])
    logits = np.full((2, 5, len(LABEL_NAMES)), -5.0)
    for row, ids in enumerate([[0, 1, 2, 0, 6], [0, 3, 0, 1, 1]]):  # garbage where labels are -100
        for position, label in enumerate(ids):
            logits[row, position, label] = 5.0
    metrics = tc.make_compute_metrics()((logits, labels))
    expected = tc.entity_report([["B-PER", "I-PER", "O"], ["B-LOC", "I-LOC"]], [["B-PER", "I-PER", "O"], ["B-LOC", "O"]])
    assert metrics["f1"] == pytest.approx(expected["micro"]["f1"]) == pytest.approx(0.5)
    assert metrics["token_accuracy"] == pytest.approx(0.8)


def test_error_breakdown_names_each_kind():
    gold = [["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "B-ORG", "O", "B-PER", "O", "O", "B-LOC", "I-LOC"]]
    predicted = [["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG", "O", "B-ORG", "O", "O", "O", "B-PER", "B-PER", "O"]]
    kinds = {row["kind"]: row for row in tc.error_breakdown(gold, predicted)}
    assert kinds["boundary"]["gold"] == ("PER", 0, 3) and kinds["boundary"]["predicted"] == ("PER", 0, 2)
    assert kinds["type"]["gold"] == ("LOC", 4, 6) and kinds["type"]["predicted"] == ("ORG", 4, 6)
    assert kinds["correct"]["gold"] == ("ORG", 7, 8)
    assert kinds["missed"]["gold"] == ("PER", 9, 10)
    assert kinds["spurious"]["predicted"] == ("PER", 11, 12)
    assert kinds["boundary+type"]["gold"] == ("LOC", 12, 14) and kinds["boundary+type"]["predicted"] == ("PER", 12, 13)
    assert set(kinds) == set(tc.ERROR_KINDS)


# --- constrained Viterbi ---------------------------------------------------------------------------------------

def valid(tags):
    return all(not tag.startswith("I-") or previous in (f"B-{tag[2:]}", tag)
               for previous, tag in zip(["O"] + list(tags[:-1]), tags))


def test_allowed_transitions_forbid_i_after_o_or_another_type():
    allowed, start = tc.allowed_transitions()
    index = LABEL2ID
    assert not allowed[index["O"], index["I-PER"]] and not allowed[index["B-LOC"], index["I-PER"]]
    assert allowed[index["B-PER"], index["I-PER"]] and allowed[index["I-PER"], index["I-PER"]]
    assert allowed[index["I-PER"], index["B-PER"]] and allowed[index["O"], index["B-ORG"]]
    assert not start[index["I-ORG"]] and start[index["B-ORG"]] and start[index["O"]]
    assert allowed.sum() == 49 - 3 * 5  # each I-X forbidden after 5 of the 7 tags
    with pytest.raises(ValueError, match="not O, B-X or I-X"):
        tc.allowed_transitions(["O", "PER"])


def brute_force(scores, allowed, start):
    best, best_path = -np.inf, None
    for path in itertools.product(range(scores.shape[1]), repeat=scores.shape[0]):
        if not start[path[0]] or not all(allowed[a, b] for a, b in zip(path, path[1:])):
            continue
        total = sum(scores[t, tag] for t, tag in enumerate(path))
        if total > best:
            best, best_path = total, list(path)
    return best_path


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_finds_the_best_allowed_sequence(seed):
    rng = np.random.default_rng(seed)
    scores = np.log(rng.dirichlet(np.ones(len(LABEL_NAMES)), size=4))
    allowed, start = tc.allowed_transitions()
    path = tc.viterbi_decode(scores, allowed, start)
    assert path == brute_force(scores, allowed, start)
    assert valid([LABEL_NAMES[i] for i in path])
    everything = np.ones_like(allowed)
    assert tc.viterbi_decode(scores, everything, np.ones(len(LABEL_NAMES), bool)) == scores.argmax(-1).tolist()


def test_viterbi_repairs_an_ill_formed_argmax():
    scores = np.log(np.full((3, len(LABEL_NAMES)), 0.01))
    scores[0, LABEL2ID["O"]], scores[1, LABEL2ID["I-PER"]], scores[2, LABEL2ID["I-PER"]] = 0, 0, 0
    scores[1, LABEL2ID["B-PER"]] = np.log(0.3)
    allowed, start = tc.allowed_transitions()
    assert [LABEL_NAMES[i] for i in tc.viterbi_decode(scores, allowed, start)] == ["O", "B-PER", "I-PER"]


def test_viterbi_refuses_bad_shapes():
    allowed, start = tc.allowed_transitions()
    with pytest.raises(ValueError, match="non-empty"):
        tc.viterbi_decode(np.zeros((0, 7)), allowed, start)
    with pytest.raises(ValueError, match="allowed must be"):
        tc.viterbi_decode(np.zeros((3, 5)), allowed, start)


# --- prediction and training -----------------------------------------------------------------------------------

def test_predictions_have_one_tag_per_character(tiny_model, tokenizer):
    sentences = [chars for chars, _ in SENTENCES]
    for constrained in (False, True):
        tags = tc.predict_tags(tiny_model, tokenizer, sentences, constrained=constrained)
        assert [len(t) for t in tags] == [len(s) for s in sentences]
    assert all(valid(t) for t in tc.predict_tags(tiny_model, tokenizer, sentences, constrained=True))
    found = tc.predict_entities(["江泽民在北京。"], tiny_model, tokenizer)
    assert len(found) == 1 and all({"entity", "type", "start", "end"} == set(e) for e in found[0])
    both = tc.evaluate_ner_both(tiny_model, tokenizer, make_dataset(SENTENCES))
    assert both["argmax"] == tc.entity_report(both["gold"], both["predicted"]["argmax"])


@pytest.mark.parametrize("texts,error,message", [
    ("江泽民在北京", TypeError, "list of texts"),
    (["江泽民", ""], ValueError, "non-empty string"),
    (["江泽民", "   "], ValueError, "non-empty string"),
])
def test_predict_entities_refuses_bad_input(tiny_model, tokenizer, texts, error, message):
    with pytest.raises(error, match=message):
        tc.predict_entities(texts, tiny_model, tokenizer)


def test_predict_tags_refuses_empty_sentences(tiny_model, tokenizer):
    with pytest.raises(ValueError, match="empty sentence"):
        tc.predict_tags(tiny_model, tokenizer, [list("北京"), []])


def test_settings_steps_and_subsets(tokenizer):
    assert tc.NerSettings(epochs=8, batch_size=32, min_steps=150).steps(1000) == 250
    assert tc.NerSettings(epochs=8, batch_size=32, min_steps=150).steps(200) == 150
    with pytest.raises(ValueError, match="no training examples"):
        tc.NerSettings().steps(0)
    data = make_dataset(SENTENCES * 5)
    assert tc.ner_subset(data, 3, seed=1)["tokens"] == tc.ner_subset(data, 3, seed=1)["tokens"]
    assert len(tc.ner_subset(data, 3)) == 3 and tc.ner_subset(data, None) is data
    with pytest.raises(ValueError, match="positive int"):
        tc.ner_subset(data, 0)


def test_fine_tune_runs_the_step_budget(tiny_model, tokenizer):
    aligned = tc.tokenize_and_align(make_dataset(SENTENCES * 4), tokenizer)
    trainer = tc.fine_tune_ner(tiny_model, aligned, tokenizer, tc.NerSettings(min_steps=3, epochs=1, batch_size=4),
                               get_profile("smoke"), progress=False)
    assert trainer.state.global_step == 3


def test_scratch_and_pretrained_models_share_the_architecture():
    pretrained = tc.ner_model("course-bert", pretrained=True)
    scratch = tc.ner_model("course-bert", pretrained=False)
    assert pretrained.config.id2label == scratch.config.id2label == dict(ID2LABEL)
    word_embeddings = "bert.embeddings.word_embeddings.weight"
    assert not np.allclose(pretrained.state_dict()[word_embeddings].numpy(), scratch.state_dict()[word_embeddings].numpy())


def test_bench_record_agrees_with_the_learning_rates_in_use():
    record = tc.bench_record()
    assert record is not None, "bench/results/ner.json is missing: run python bench/ner.py"
    assert record["chosen_learning_rate"] == tc.NER_LEARNING_RATES
    assert {"hardware", "date", "commands", "summary", "runs"} <= set(record)
    for run in record["runs"]:
        assert run["arm"] in tc.NER_LEARNING_RATES and 0 <= run["test"]["micro"]["f1"] <= 1
        assert run["test"]["micro"]["support"] == sum(record["data"]["test"]["entities"].values())
    assert tc.bench_record("/nonexistent/ner.json") is None


def test_bench_summary_chooses_the_epoch_count_on_validation():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("bench_ner", Path(__file__).resolve().parents[1] / "bench" / "ner.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def run(validation, test, **extra):
        return {"arm": "course-bert", "size": "all", "seed": 0, "learning_rate": 3e-4, "train_seconds": 1.0,
                "validation": {"micro": {"f1": validation}}, "test": {"micro": {"f1": test}},
                "test_constrained": {"micro": {"f1": test + 0.01}}, **extra}

    old = run(0.70, 0.75)  # recorded before epochs were stored: one epoch
    results = {"chosen_learning_rate": {"course-bert": 3e-4}, "runs": [old, run(0.80, 0.78, epochs=3.0)]}
    summary = bench.summarise(results)
    assert summary["course-bert @ all, 1 epoch"]["test_f1_mean"] == 0.75
    assert summary["course-bert @ all"]["epochs"] == 3.0 and summary["course-bert @ all"]["test_f1_mean"] == 0.78
    # a longer run that does worse on validation is not chosen, even if its test figure is higher
    results["runs"][1] = run(0.60, 0.90, epochs=3.0)
    assert bench.summarise(results)["course-bert @ all"]["epochs"] == 1.0
    assert bench.find(results, arm="course-bert", size="all", seed=0, learning_rate=3e-4, epochs=1.0) is old
    assert bench.find(results, arm="course-bert", size="all", seed=0, learning_rate=3e-4, epochs=2.0) is None
