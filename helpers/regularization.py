"""Remedies for overfitting that need code of their own: text augmentation and FGM adversarial training.

* :func:`augment_text` makes EDA-style variants of a Chinese review at the character level: random deletion,
  swapping neighbours, and inserting a character taken from the same text. Synonym replacement and
  back-translation need a thesaurus or a translation model, which the offline course does not have.
* :func:`perturb_text` damages text the same way at a fixed rate, to test robustness.
* :class:`FGM` (fast gradient method) adds ``epsilon * g / ||g||`` to the word-embedding matrix, where ``g`` is the
  loss gradient, trains on that worst-case nudge as well, then restores the original embeddings.
"""

from __future__ import annotations

import random

import torch


def _check_text(text: object, rate: float) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be between 0 and 1, got {rate}")
    return text


def perturb_text(text: str, rate: float, rng: random.Random) -> str:
    """Delete or swap about ``rate`` of the characters (half each); never returns an empty string for non-empty input."""
    chars = list(_check_text(text, rate))
    if rate == 0 or len(chars) < 2:
        return text
    n_edits = max(1, round(rate * len(chars)))
    for _ in range(n_edits):
        if len(chars) < 2:
            break
        i = rng.randrange(len(chars))
        if rng.random() < 0.5:
            del chars[i]
        else:
            j = min(i + 1, len(chars) - 1) if i + 1 < len(chars) else i - 1
            chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def augment_text(text: str, rate: float, rng: random.Random) -> str:
    """One EDA-style variant: about ``rate`` of the characters deleted, swapped or duplicated from the text itself.

    The length stays within ``rate`` of the original (plus one character); ``rate=0`` returns the text unchanged.
    """
    chars = list(_check_text(text, rate))
    if rate == 0 or len(chars) < 2:
        return text
    n_edits = max(1, round(rate * len(chars)))
    for _ in range(n_edits):
        operation = rng.choice(("delete", "swap", "insert"))
        i = rng.randrange(len(chars))
        if operation == "delete" and len(chars) > 1:
            del chars[i]
        elif operation == "swap" and len(chars) > 1:
            j = rng.randrange(len(chars))
            chars[i], chars[j] = chars[j], chars[i]
        else:
            chars.insert(i, rng.choice(chars))
    return "".join(chars)


class FGM:
    """Fast gradient method on the word embeddings (Miyato et al.; Goodfellow et al.'s FGSM with an L2 norm).

    Call :meth:`attack` after ``loss.backward()``, compute and backpropagate the loss again, then :meth:`restore`.
    """

    def __init__(self, model: torch.nn.Module, epsilon: float = 1.0, embedding_name: str = "word_embeddings"):
        if epsilon <= 0:
            raise ValueError(f"epsilon must be positive, got {epsilon}")
        self.epsilon = epsilon
        self.parameters = [(name, p) for name, p in model.named_parameters()
                           if p.requires_grad and embedding_name in name]
        if not self.parameters:
            raise ValueError(f"no trainable parameter named like {embedding_name!r}; FGM needs the embeddings to train")
        self.backup: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def attack(self) -> None:
        """Nudge the embeddings along their gradient, to length ``epsilon``."""
        for name, parameter in self.parameters:
            if parameter.grad is None:
                continue
            norm = torch.linalg.vector_norm(parameter.grad)
            if norm > 0 and torch.isfinite(norm):
                self.backup[name] = parameter.detach().clone()
                parameter.add_(self.epsilon * parameter.grad / norm)

    @torch.no_grad()
    def restore(self) -> None:
        """Put the original embeddings back."""
        for name, parameter in self.parameters:
            if name in self.backup:
                parameter.copy_(self.backup[name])
        self.backup = {}
