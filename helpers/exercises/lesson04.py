"""Lesson 04 exercises: an early-stopping tracker, a text augmentation function, an FGM step."""

from __future__ import annotations

from typing import Any

from .core import ExerciseFailed, call_answer, expect_callable, register

# (validation losses per epoch, patience, epoch whose update() returns True, best epoch)
_STOP_CASES = (
    ([0.9, 0.8, 0.7, 0.75, 0.76, 0.74], 2, 5, 3),
    ([0.9, 0.8, 0.7, 0.6], 1, None, 4),
    ([0.5, 0.5, 0.6], 2, 3, 1),  # an equal loss is not an improvement
    ([0.9, 1.0, 0.8, 0.85, 0.9, 0.95], 3, 6, 3),
)


@register("04.1", "an early-stopping tracker")
def check_early_stopping(answer: Any) -> str:
    """``answer(patience)`` builds a tracker; ``update(loss)`` returns True when training should stop."""
    if not isinstance(answer, type):
        raise ExerciseFailed(f"pass the class EarlyStopping itself, got a {type(answer).__name__}.")
    for losses, patience, stop_at, best in _STOP_CASES:
        tracker = call_answer(answer, patience)
        stopped = None
        for epoch, loss in enumerate(losses, 1):
            decision = call_answer(tracker.update, loss)
            if not isinstance(decision, bool):
                raise ExerciseFailed(f"update() returned {decision!r}; return True (stop) or False (go on).")
            if decision:
                stopped = epoch
                break
        if stopped != stop_at:
            detail = "never stopped" if stopped is None else f"stopped after epoch {stopped}"
            hint = (" An equal loss is not an improvement." if losses[:2] == [0.5, 0.5] else
                    f" Stop once {patience} epoch(s) in a row brought no new best.")
            raise ExerciseFailed(f"losses {losses}, patience {patience}: you {detail}; expected "
                                 f"{'never' if stop_at is None else 'after epoch ' + str(stop_at)}.{hint}")
        if getattr(tracker, "best_epoch", None) != best:
            raise ExerciseFailed(f"losses {losses}: best_epoch is {getattr(tracker, 'best_epoch', None)!r}; expected "
                                 f"{best} (epochs count from 1) — the weights to restore.")
    return f"all {len(_STOP_CASES)} loss sequences stop at the right epoch with the right best epoch."


_TEXT = "房间干净，服务热情，早餐种类也很多，下次还会再来。"


@register("04.2", "character-level augmentation")
def check_augment(answer: Any) -> str:
    """``answer(text, rate, seed)`` -> a str: unchanged at rate 0, seeded, length within bounds."""
    expect_callable(answer, "augment")
    outputs = [call_answer(answer, _TEXT, 0.2, seed) for seed in range(20)]
    for out in outputs:
        if not isinstance(out, str):
            raise ExerciseFailed(f"return a str, got {type(out).__name__}.")
    if call_answer(answer, _TEXT, 0.0, 0) != _TEXT:
        raise ExerciseFailed("with rate=0 the text must come back unchanged.")
    if call_answer(answer, _TEXT, 0.2, 3) != outputs[3]:
        raise ExerciseFailed("the same seed gave a different result: make every random choice with "
                             "random.Random(seed), not the global random module.")
    if len(set(outputs)) < 5:
        raise ExerciseFailed(f"20 seeds gave only {len(set(outputs))} different variants: the seed should matter.")
    bound = round(0.2 * len(_TEXT)) + 1
    for out in outputs:
        if abs(len(out) - len(_TEXT)) > bound:
            raise ExerciseFailed(f"a variant has {len(out)} characters, the text {len(_TEXT)}: at rate 0.2 the length "
                                 f"should change by at most {bound}.")
        if out == _TEXT:
            raise ExerciseFailed("with rate=0.2 a variant came back unchanged: make at least one edit.")
        if not set(out) <= set(_TEXT):
            raise ExerciseFailed(f"a variant contains {sorted(set(out) - set(_TEXT))}, which are not in the text: "
                                 "insert characters taken from the text itself.")
    if call_answer(answer, "", 0.2, 0) != "":
        raise ExerciseFailed("an empty text should come back empty.")
    return "unchanged at rate 0, seeded, varied across seeds, lengths within bounds, no foreign characters."


@register("04.3", "an FGM step")
def check_fgm(answer: Any) -> str:
    """``answer`` is ``(fgm_attack, fgm_restore)``: attack(model, epsilon) -> backup; restore(model, backup)."""
    import torch
    from transformers import BertForSequenceClassification

    from ..models import bert_config
    from ..profiles import get_profile

    if not (isinstance(answer, tuple) and len(answer) == 2 and all(callable(f) for f in answer)):
        raise ExerciseFailed("pass a tuple of your two functions: check('04.3', (fgm_attack, fgm_restore)).")
    attack, restore = answer
    torch.manual_seed(0)
    model = BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2))
    batch = {"input_ids": torch.randint(5, 300, (4, 10)), "labels": torch.tensor([0, 1, 0, 1])}
    model(**batch).loss.backward()
    weight = model.bert.embeddings.word_embeddings.weight
    original, gradient = weight.detach().clone(), weight.grad.detach().clone()
    backup = call_answer(attack, model, 0.5)
    delta = weight.detach() - original
    norm = torch.linalg.vector_norm(delta).item()
    if norm == 0:
        raise ExerciseFailed("the word embeddings did not change: add epsilon * grad / ||grad|| to them (in place, "
                             "under torch.no_grad()).")
    if abs(norm - 0.5) > 1e-3:
        raise ExerciseFailed(f"the perturbation has norm {norm:.4f}; expected epsilon = 0.5. Divide the gradient by "
                             "its L2 norm before scaling.")
    cosine = torch.nn.functional.cosine_similarity(delta.flatten(), gradient.flatten(), dim=0).item()
    if cosine < 0.999:
        raise ExerciseFailed(f"the perturbation points away from the gradient (cosine {cosine:.3f}); FGM moves "
                             "along +grad, the direction that increases the loss.")
    other = model.bert.embeddings.position_embeddings.weight
    call_answer(restore, model, backup)
    if not torch.equal(weight.detach(), original):
        raise ExerciseFailed("after restore the embeddings differ from the originals: copy the backup back.")
    if other.grad is not None and not torch.isfinite(other).all():
        raise ExerciseFailed("other weights were damaged.")
    return "perturbation of norm 0.5 along the gradient, removed exactly by restore."
