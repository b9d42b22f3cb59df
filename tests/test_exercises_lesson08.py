import pytest
import torch
import torch.nn.functional as F

from helpers.exercises import check
from lesson_sources import exercise_namespace, failure


@pytest.fixture(scope="module")
def solved():
    return exercise_namespace("08_deployment")


@pytest.fixture(scope="module")
def stubs():
    return exercise_namespace("08_deployment", "notebooks")


@pytest.mark.parametrize("exercise_id,name", [("08.1", "size_on_disk_bytes"), ("08.2", "distillation_loss"),
                                              ("08.3", "validate_texts"), ("08.4", "head_parameters")])
def test_solutions_pass_and_stubs_are_not_attempted(solved, stubs, exercise_id, name):
    assert check(exercise_id, solved[name]).passed
    assert not check(exercise_id, stubs[name]).attempted


def payload_bytes(tensors):
    return sum(t.numel() * t.element_size() for t in tensors.values())


def test_size_accepts_the_payload_estimate():
    assert check("08.1", payload_bytes).passed  # header is < 1% of these files


@pytest.mark.parametrize("wrong,message", [
    (lambda tensors: sum(t.numel() for t in tensors.values()), "number of elements"),
    (lambda tensors: 4 * sum(t.numel() for t in tensors.values()), "4 for fp32, 2 for fp16"),
    (lambda tensors: 1000, "the file has"),
    (lambda tensors: str(payload_bytes(tensors)), "return a number"),
])
def test_size_wrong_answers(wrong, message):
    assert message in failure("08.1", wrong)


def kl(student, teacher, temperature, reduction="batchmean"):
    return F.kl_div(F.log_softmax(student / temperature, -1), F.log_softmax(teacher / temperature, -1),
                    log_target=True, reduction=reduction)


def no_t_squared(s, t, y, temperature, alpha):
    return alpha * kl(s, t, temperature) + (1 - alpha) * F.cross_entropy(s, y)


def reversed_kl(s, t, y, temperature, alpha):
    reverse = F.kl_div(F.log_softmax(t / temperature, -1), F.log_softmax(s / temperature, -1), log_target=True,
                       reduction="batchmean")
    return alpha * reverse * temperature**2 + (1 - alpha) * F.cross_entropy(s, y)


def mean_reduction(s, t, y, temperature, alpha):
    return alpha * kl(s, t, temperature, "mean") * temperature**2 + (1 - alpha) * F.cross_entropy(s, y)


def swapped_alpha(s, t, y, temperature, alpha):
    return (1 - alpha) * kl(s, t, temperature) * temperature**2 + alpha * F.cross_entropy(s, y)


def teacher_not_softened(s, t, y, temperature, alpha):
    soft = F.kl_div(F.log_softmax(s / temperature, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean")
    return alpha * soft * temperature**2 + (1 - alpha) * F.cross_entropy(s, y)


@pytest.mark.parametrize("wrong,message", [
    (no_t_squared, "by T²"),
    (reversed_kl, "wrong way"),
    (mean_reduction, "batchmean"),
    (swapped_alpha, "swapped them"),
    (teacher_not_softened, "Divide both logits by T"),
    (lambda s, t, y, temperature, alpha: float(no_t_squared(s, t, y, temperature, alpha)), "one-element tensor"),
    (lambda s, t, y, temperature, alpha: torch.tensor(1.0), "no gradient"),
])
def test_distillation_wrong_answers(wrong, message):
    assert message in failure("08.2", wrong)


def no_type_check(payload, max_texts, max_chars):
    if not isinstance(payload, dict) or set(payload) - {"text", "texts"} or not payload:
        raise ValueError("send text or texts")
    texts = [payload["text"]] if "text" in payload else payload["texts"]
    if not isinstance(texts, list) or not texts or len(texts) > max_texts:
        raise ValueError("bad number of texts")
    if any(not text.strip() or len(text) > max_chars for text in texts):  # .strip() on a number: AttributeError
        raise ValueError("bad text")
    return texts


def no_blank_check(payload, max_texts, max_chars):
    if not isinstance(payload, dict) or set(payload) - {"text", "texts"} or not payload:
        raise ValueError("send text or texts")
    texts = [payload["text"]] if "text" in payload else payload["texts"]
    if not isinstance(texts, list) or not texts or len(texts) > max_texts:
        raise ValueError("bad texts")
    if any(not isinstance(t, str) or len(t) > max_chars for t in texts):
        raise ValueError("bad text")
    return texts


def silent_error(payload, max_texts, max_chars):
    texts = [payload.get("text")] if isinstance(payload, dict) and "text" in payload else None
    if texts is None and isinstance(payload, dict) and isinstance(payload.get("texts"), list):
        texts = payload["texts"]
    if (not texts or len(texts) > max_texts or set(payload) - {"text", "texts"}
            or any(not isinstance(t, str) or not t.strip() or len(t) > max_chars for t in texts)):
        raise ValueError("")
    return texts


@pytest.mark.parametrize("wrong,message", [
    (no_type_check, "becomes a 500"),
    (no_blank_check, "an empty text"),
    (silent_error, "without a message"),
    (lambda payload, max_texts, max_chars: payload, "for {'texts'"),
])
def test_validation_wrong_answers(wrong, message):
    assert message in failure("08.3", wrong)


@pytest.mark.parametrize("wrong,message", [
    (lambda h, d: 3 * h * d + h * d, "left out the biases"),
    (lambda h, d: 3 * (h * d + d), "left out the output projection"),
    (lambda h, d: 3 * h * d, "count the biases"),
    (lambda h, d: 2 * h * d + 7, "owns head_size rows"),
])
def test_head_parameters_wrong_answers(wrong, message):
    assert message in failure("08.4", wrong)
