"""Lesson 04 exercises: an early-stopping tracker, a text augmentation function, an FGM step."""

from __future__ import annotations

import random as global_random
from typing import Any

import numpy as np

from .core import (ExerciseFailed, as_bool, call_answer, describe, expect_callable, register, rng,
                   torch_generator)

# ---------------------------------------------------------------- 04.1 early stopping
# (validation losses per epoch, patience). Each one separates a wrong idea from the rule.
_STOP_CASES = (
    ([0.9, 0.8, 0.7, 0.75, 0.76, 0.74], 2),
    ([0.9, 0.8, 0.7, 0.6], 1),  # improves every epoch: never stops
    ([0.5, 0.5, 0.6], 2),  # an equal loss is not an improvement
    ([0.9, 1.0, 0.8, 0.85, 0.9, 0.95], 3),
    ([0.9, 0.7, 0.8, 0.75, 0.78, 0.76, 0.77], 2),  # compare with the BEST loss, not the previous epoch's
    ([1.0, 1.2, 1.1, 0.9, 1.0, 1.05], 3),  # a new best resets the count
    ([0.4], 1),  # one epoch
    ([1.0, 1.1, 1.2], 5),  # patience longer than the run
)


class _ReferenceStopping:
    def __init__(self, patience: int):
        self.patience, self.best_loss, self.best_epoch, self.epoch = patience, float("inf"), None, 0

    def update(self, loss: float) -> bool:
        self.epoch += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epoch
        return self.epoch - self.best_epoch >= self.patience


def _random_losses(random) -> tuple[list, int]:
    level = random.uniform(0.5, 2.0)
    losses = []
    for _ in range(random.randint(1, 12)):
        level = max(0.01, level + random.choice((-0.1, -0.05, 0.0, 0.0, 0.03, 0.08)))
        losses.append(round(level, 2))  # rounding makes equal losses common
    kind = random.choice((float, np.float32, np.float64))
    return [kind(x) for x in losses], random.randint(1, 4)


def _describe_run(losses, patience) -> str:
    return f"losses {[round(float(x), 4) for x in losses]}, patience {patience}"


@register("04.1", "an early-stopping tracker")
def check_early_stopping(answer: Any, seed: int = 0) -> str:
    """``answer(patience)`` builds a tracker; ``update(loss)`` returns True when training should stop.

    Compared with the rule step by step (the decision after every epoch, and ``best_epoch`` after every epoch,
    counting from 1) on fixed non-monotone curves and 30 random ones with equal losses, patience 1-4, and losses
    as Python floats, NumPy float32 and float64. Edge cases: a curve that improves every epoch (never
    stops), an equal loss (not an improvement), a curve that rises and falls but never beats its best (comparing
    with the previous epoch instead of the best never stops there), a late new best that must reset the count,
    a single epoch, patience longer than the run. Accepted: True/False as Python or NumPy bools.
    """
    if not isinstance(answer, type):
        raise ExerciseFailed(f"pass the class EarlyStopping itself, got {describe(answer)}.")
    random = rng(seed, "04.1")
    cases = [(list(losses), patience) for losses, patience in _STOP_CASES]
    cases += [_random_losses(random) for _ in range(30)]
    for losses, patience in cases:
        tracker = call_answer(answer, patience)
        reference = _ReferenceStopping(patience)
        update = getattr(tracker, "update", None)
        if not callable(update):
            raise ExerciseFailed(f"EarlyStopping({patience}) has no update() method; got {describe(tracker)}.")
        expected_stop = next((epoch for epoch, loss in enumerate(losses, 1)
                              if _ReferenceStopping.update(reference, loss)), None)
        reference = _ReferenceStopping(patience)
        for epoch, loss in enumerate(losses, 1):
            decision = as_bool(call_answer(update, loss), f"update({loss}) returned a value that")
            should_stop = reference.update(loss)
            if decision != should_stop:
                detail = f"you stopped after epoch {epoch}" if decision else f"you went on after epoch {epoch}"
                expected = "never" if expected_stop is None else f"after epoch {expected_stop}"
                if losses[:2] == [0.5, 0.5] and patience == 2:
                    hint = " An equal loss is not an improvement: use <, not <=."
                else:
                    hint = (f" Count the epochs since the BEST loss so far (not since the previous epoch's loss), "
                            f"and stop once {patience} epoch(s) in a row brought no new best.")
                raise ExerciseFailed(f"{_describe_run(losses, patience)}: {detail}; expected to stop {expected}.{hint}")
            best = getattr(tracker, "best_epoch", None)
            if best != reference.best_epoch:
                equal = (isinstance(best, int) and 1 <= best <= epoch
                         and losses[best - 1] == losses[reference.best_epoch - 1])
                hint = (" An equal loss is not an improvement: use <, not <=." if equal else
                        " Epochs count from 1.")
                raise ExerciseFailed(f"{_describe_run(losses, patience)}: after epoch {epoch} best_epoch is {best!r}; "
                                     f"expected {reference.best_epoch}, the epoch whose weights to restore.{hint}")
            if decision:
                break
    return f"all {len(cases)} loss curves stop at the right epoch with the right best epoch after every update."


# ---------------------------------------------------------------- 04.2 augmentation
_TEXTS = ("房间干净，服务热情，早餐种类也很多，下次还会再来。前台的小姐姐很耐心，帮我们换了一间安静的房间，推荐！",
          "书很好看，快递也快。")


def levenshtein(a: str, b: str) -> int:
    """Edit distance: the fewest single-character insertions, deletions and substitutions turning a into b."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _augment(answer, text: str, rate: float, seed: int) -> str:
    state = global_random.getstate()
    out = call_answer(answer, text, rate, seed)
    if global_random.getstate() != state:
        raise ExerciseFailed("your function used the global random module (random.choice, random.seed, ...). Make "
                             "every random choice with rng = random.Random(seed), so that augmenting does not change "
                             "the random numbers of the rest of the program.")
    if not isinstance(out, str):
        raise ExerciseFailed(f"augment({text[:8]!r}..., {rate}, {seed}) returned {describe(out)}; return a str.")
    return out


@register("04.2", "character-level augmentation")
def check_augment(answer: Any, seed: int = 0) -> str:
    """``answer(text, rate, seed)`` -> a str with about ``rate * len(text)`` edits, made with ``random.Random(seed)``.

    How much was edited is measured by the edit distance (Levenshtein) between the variant and the text, over
    20 seeds per setting: a deletion or an insertion costs 1, a swap of two characters at most 2, so ``n`` edits
    give a distance of at most ``2n``, and on average at least ``n/2`` even when some edits undo others.
    Settings: rates 0.1 and 0.3 on a 52-character review and 0.2 on a 10-character one; the mean distance must
    lie between ``0.5 n`` and ``2.5 n`` (``n = rate * length``, at least 1): one edit whatever the rate, or
    editing every character, fails. Each variant: made only of the text's characters, length within
    ``2n + 1`` of the original, the same for the same seed, different across seeds (at least 14 of 20
    different), and the global ``random`` module left untouched. Edge cases: rate 0 (unchanged, also for a
    one-character and an empty text), the empty text at rate 0.3 (empty), a one-character text (only that
    character, at most twice). A variant that happens to equal the text (e.g. two equal characters swapped)
    is fine. Accepted: a fixed number of edits or each character edited with probability ``rate``; swaps of
    neighbours or of any two characters. Wrong ideas told apart: the global random module, foreign characters,
    no edits, one edit whatever the rate, editing everything, a list instead of a str.
    """
    expect_callable(answer, "augment")
    long_text, short_text = _TEXTS
    if _augment(answer, long_text, 0.0, 0) != long_text:
        raise ExerciseFailed("with rate=0 the text must come back unchanged.")
    seeds = [rng(seed, "04.2").randrange(10**6) + i for i in range(20)]
    summary = []
    for text, rate in ((long_text, 0.1), (long_text, 0.3), (short_text, 0.2)):
        n = max(1.0, rate * len(text))
        variants = [_augment(answer, text, rate, s) for s in seeds]
        for s, variant in zip(seeds[:3], variants[:3]):
            if _augment(answer, text, rate, s) != variant:
                raise ExerciseFailed("the same seed gave a different result: make every random choice with "
                                     "random.Random(seed).")
        for variant in variants:
            foreign = sorted(set(variant) - set(text))
            if foreign:
                raise ExerciseFailed(f"a variant contains {foreign}, which are not in the text: insert characters taken "
                                     "from the text itself.")
            if abs(len(variant) - len(text)) > 2 * n + 1:
                raise ExerciseFailed(f"at rate {rate} a variant of the {len(text)}-character text has {len(variant)} "
                                     f"characters: about {n:.0f} edits cannot change the length that much.")
        distances = [levenshtein(text, variant) for variant in variants]
        mean = sum(distances) / len(distances)
        if mean < 0.5 * n:
            raise ExerciseFailed(f"at rate {rate} on a {len(text)}-character text your variants differ from it by "
                                 f"{mean:.1f} edits on average (edit distance); about {n:.0f} expected. Make "
                                 "max(1, round(rate * len(text))) edits, not a fixed number.")
        if mean > 2.5 * n:
            raise ExerciseFailed(f"at rate {rate} on a {len(text)}-character text your variants differ from it by "
                                 f"{mean:.1f} edits on average (edit distance); about {n:.0f} expected: far too "
                                 "many edits.")
        if text == long_text and len(set(variants)) < 14:
            raise ExerciseFailed(f"20 seeds gave only {len(set(variants))} different variants at rate {rate}: the seed "
                                 "should matter.")
        summary.append(f"{mean:.1f} for {n:.1f}")
    for text in (short_text, "好", ""):
        if _augment(answer, text, 0.0, 0) != text:
            raise ExerciseFailed(f"with rate=0 the text must come back unchanged; {text!r} did not.")
    if _augment(answer, "", 0.3, 1) != "":
        raise ExerciseFailed("an empty text should come back empty.")
    single = _augment(answer, "好", 0.5, 2)
    if set(single) - {"好"} or len(single) > 2:
        raise ExerciseFailed(f"for the one-character text '好' at rate 0.5 you returned {single!r}; only deleting it, "
                             "keeping it or doubling it is possible.")
    return ("unchanged at rate 0, seeded, varied across seeds, no foreign characters; mean edit distance "
            f"{', '.join(summary)} edits asked for.")


# ---------------------------------------------------------------- 04.3 FGM
def _fgm_model(seed: int, dtype):
    import torch
    from transformers import BertForSequenceClassification

    from ..models import bert_config
    from ..profiles import get_profile

    torch.manual_seed(seed)
    model = BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2)).to(dtype)
    generator = torch_generator(seed, "04.3 batch")
    batch = {"input_ids": torch.randint(5, 300, (4, 10), generator=generator), "labels": torch.tensor([0, 1, 0, 1])}
    model(**batch).loss.backward()
    return model


@register("04.3", "an FGM step")
def check_fgm(answer: Any, seed: int = 0) -> str:
    """``answer`` is ``(fgm_attack, fgm_restore)``: attack(model, epsilon) -> backup; restore(model, backup).

    Three models (float32 twice, float64 once; random seeds) after one backward pass: only the rows of the
    tokens in the batch have a gradient. Checked after the attack: the word embeddings moved by exactly
    ``epsilon * g / ||g||`` (each element, so rows without gradient stay put; epsilons 0.5 and a random one);
    no other parameter changed (an attack on every parameter, or on the position embeddings, fails);
    no gradient changed (the adversarial backward pass adds to them); requires_grad untouched. After restore:
    every parameter equals its original exactly, gradients still intact. Edge case: an all-zero gradient must
    leave the embeddings unchanged (dividing by a zero norm would fill them with NaN).
    Accepted: any backup object that your restore understands.
    """
    import torch

    if not (isinstance(answer, tuple) and len(answer) == 2 and all(callable(f) for f in answer)):
        raise ExerciseFailed("pass a tuple of your two functions: check('04.3', (fgm_attack, fgm_restore)).")
    attack, restore = answer
    random = rng(seed, "04.3")
    epsilons = (0.5, round(random.uniform(0.05, 3.0), 3), 1.0)
    for case, (dtype, epsilon) in enumerate(zip((torch.float32, torch.float64, torch.float32), epsilons)):
        model = _fgm_model(random.randrange(2**31), dtype)
        weight = model.bert.embeddings.word_embeddings.weight
        if case == 2:
            weight.grad.zero_()
        params = {name: p.detach().clone() for name, p in model.named_parameters()}
        grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
        flags = {name: p.requires_grad for name, p in model.named_parameters()}
        backup = call_answer(attack, model, epsilon)
        where = f"(epsilon={epsilon}, {dtype})"
        for name, p in model.named_parameters():
            if p.requires_grad != flags[name]:
                raise ExerciseFailed(f"the attack changed requires_grad of {name}; leave it as it is.")
        delta = (weight.detach() - params["bert.embeddings.word_embeddings.weight"]).double()
        gradient = grads["bert.embeddings.word_embeddings.weight"].double()
        if case == 2:
            if not torch.isfinite(weight).all():
                raise ExerciseFailed("with an all-zero gradient your attack filled the embeddings with NaN/inf "
                                     "(0 / 0). If the gradient norm is 0, change nothing.")
            if delta.abs().max() > 0:
                raise ExerciseFailed("with an all-zero gradient the embeddings changed; there is no direction to move "
                                     "in, so change nothing.")
        else:
            norm = torch.linalg.vector_norm(delta).item()
            if norm == 0:
                raise ExerciseFailed("the word embeddings did not change: add epsilon * grad / ||grad|| to them (in "
                                     "place, under torch.no_grad()).")
            if not torch.isfinite(delta).all():
                raise ExerciseFailed(f"{where}: the embeddings hold NaN/inf after the attack.")
            if abs(norm - epsilon) > 1e-3 * max(1.0, epsilon):
                raise ExerciseFailed(f"{where}: the perturbation has norm {norm:.4f}; expected epsilon = {epsilon}. "
                                     "Divide the gradient by its L2 norm (of the whole matrix) before scaling.")
            cosine = torch.nn.functional.cosine_similarity(delta.flatten(), gradient.flatten(), dim=0).item()
            if cosine < 0.999:
                raise ExerciseFailed(f"{where}: the perturbation points away from the gradient (cosine {cosine:.3f}); "
                                     "FGM moves along +grad, the direction that increases the loss.")
            expected = epsilon * gradient / torch.linalg.vector_norm(gradient)
            if not torch.allclose(delta, expected, atol=1e-5 * max(1.0, epsilon)):
                raise ExerciseFailed(f"{where}: the perturbation is not epsilon * g / ||g|| element by element.")
        for name, p in model.named_parameters():
            if name != "bert.embeddings.word_embeddings.weight" and not torch.equal(p.detach(), params[name]):
                raise ExerciseFailed(f"the attack also changed {name}: FGM perturbs only the word embeddings "
                                     "(model.bert.embeddings.word_embeddings.weight).")
            if name in grads and (p.grad is None or not torch.equal(p.grad, grads[name])):
                raise ExerciseFailed(f"the attack changed the gradient of {name} (zeroed or modified it): leave the "
                                     "gradients alone, the adversarial backward pass adds to them.")
        call_answer(restore, model, backup)
        for name, p in model.named_parameters():
            if not torch.equal(p.detach(), params[name]):
                what = "the embeddings" if "word_embeddings" in name else name
                raise ExerciseFailed(f"after restore {what} differ from the originals: keep a copy (.clone()) of the "
                                     "weights in the backup, and copy it back under torch.no_grad().")
            if name in grads and (p.grad is None or not torch.equal(p.grad, grads[name])):
                raise ExerciseFailed(f"restore changed the gradient of {name}; leave the gradients alone.")
    return (f"perturbations of norm epsilon ({epsilons[0]}, {epsilons[1]}) along the gradient, nothing else touched, "
            "removed exactly by restore; a zero gradient changes nothing.")
