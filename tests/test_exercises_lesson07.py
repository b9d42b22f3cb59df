import pytest

from helpers.exercises import check
from lesson_sources import failure

LESSON = "07_ner"  # the conftest fixtures `solved` and `stubs` read this


@pytest.mark.parametrize("exercise_id,name", [("07.1", "bio_from_spans"), ("07.2", "spans_from_bio"),
                                              ("07.3", "align_word_labels"), ("07.4", "entity_f1")])
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    assert not check(exercise_id, stubs[name]).attempted


def test_the_library_answers_pass():
    from seqeval.metrics import f1_score

    from helpers.ner import bio_to_spans, spans_to_bio
    from helpers.token_classification import align_labels

    assert check("07.1", spans_to_bio).passed
    assert check("07.2", bio_to_spans).passed
    assert check("07.3", align_labels).passed
    assert check("07.4", lambda gold, predicted: f1_score(gold, predicted)).passed


# --- 07.1 -----------------------------------------------------------------------------------------------------

def end_inclusive(length, spans):
    tags = ["O"] * length
    for kind, start, end in spans:
        for position in range(start, min(end + 1, length)):
            tags[position] = ("B-" if position == start else "I-") + kind
    return tags


def continue_same_type(length, spans):
    tags = ["O"] * length
    for kind, start, end in spans:
        for position in range(start, end):
            begins = position == start and (position == 0 or tags[position - 1][2:] != kind)
            tags[position] = ("B-" if begins else "I-") + kind
    return tags


def all_b(length, spans):
    tags = ["O"] * length
    for kind, start, end in spans:
        tags[start:end] = ["B-" + kind] * (end - start)
    return tags


@pytest.mark.parametrize("wrong,message", [
    (end_inclusive, "`end` is exclusive"),
    (continue_same_type, "even right after another entity of the same type"),
    (all_b, "Only the first character"),
    (lambda length, spans: ["O"] * (length - 1), "one tag per character"),
    (lambda length, spans: "O" * length, "list of tag strings"),
])
def test_bio_from_spans_wrong_answers(wrong, message):
    assert message in failure("07.1", wrong)


# --- 07.2 -----------------------------------------------------------------------------------------------------

def ignore_orphan_i(tags):
    spans, current = [], None
    for position, tag in enumerate(list(tags) + ["O"]):
        if current and not (tag.startswith("I-") and tag[2:] == current[0]):
            spans.append((current[0], current[1], position))
            current = None
        if tag.startswith("B-"):
            current = (tag[2:], position)
    return spans


def inclusive_end(tags):
    from helpers.ner import bio_to_spans

    return [(kind, start, end - 1) for kind, start, end in bio_to_spans(tags)]


def merge_b_b(tags):
    spans, current = [], None
    for position, tag in enumerate(list(tags) + ["O"]):
        kind = tag[2:]
        if current and kind != current[0]:
            spans.append((current[0], current[1], position))
            current = None
        if tag != "O" and current is None:
            current = (kind, position)
    return spans


@pytest.mark.parametrize("wrong,message", [
    (ignore_orphan_i, "still starts an entity"),
    (inclusive_end, "`end` must be exclusive"),
    (merge_b_b, "A B- tag always starts a new entity"),
    (lambda tags: "PER 0 3", "list of (type, start, end)"),
])
def test_spans_from_bio_wrong_answers(wrong, message):
    assert message in failure("07.2", wrong)


# --- 07.3 -----------------------------------------------------------------------------------------------------

def label_every_piece(word_ids, word_labels):
    return [-100 if w is None else word_labels[w] for w in word_ids]


def zero_for_specials(word_ids, word_labels):
    labels, previous = [], None
    for w in word_ids:
        labels.append(0 if w is None else (-100 if w == previous else word_labels[w]))
        previous = w
    return labels


@pytest.mark.parametrize("wrong,message", [
    (label_every_piece, "later piece of word"),
    (zero_for_specials, "is a special token"),
    (lambda word_ids, word_labels: list(word_labels), "one per token, special tokens included"),
])
def test_align_wrong_answers(wrong, message):
    assert message in failure("07.3", wrong)


# --- 07.4 -----------------------------------------------------------------------------------------------------

def token_accuracy(gold, predicted):
    pairs = [(a, b) for g, p in zip(gold, predicted) for a, b in zip(g, p)]
    return sum(a == b for a, b in pairs) / len(pairs)


def overlap_counts(gold, predicted):
    from helpers.ner import bio_to_spans

    correct = n_gold = n_predicted = 0
    for g, p in zip(gold, predicted):
        gold_spans, predicted_spans = bio_to_spans(g), bio_to_spans(p)
        n_gold += len(gold_spans)
        n_predicted += len(predicted_spans)
        correct += sum(any(q[1] < s[2] and s[1] < q[2] for q in predicted_spans) for s in gold_spans)
    precision, recall = correct / max(n_predicted, 1), correct / max(n_gold, 1)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def per_sentence_average(gold, predicted):
    from seqeval.metrics import f1_score

    return sum(f1_score([g], [p], zero_division=1) for g, p in zip(gold, predicted)) / len(gold)


@pytest.mark.parametrize("wrong,message", [
    (token_accuracy, "That is token accuracy"),
    (overlap_counts, "type AND both boundaries"),
    (per_sentence_average, "over all sentences together"),
    (lambda gold, predicted: "high", "one number"),
])
def test_entity_f1_wrong_answers(wrong, message):
    assert message in failure("07.4", wrong)
