"""ELECTRA's pretraining objective, replaced-token detection (替换词检测), for the course BERT.

Masked-LM learns from the ~15% of positions it masks. ELECTRA (Clark et al., 2020) learns from every position:

1. a small **generator** (a masked LM a quarter of the width) fills the masked positions with its own samples;
2. the **discriminator** (the BERT we keep) reads the result and says, for every token, whether it is the
   original or a replacement (binary cross-entropy at all non-padding positions);
3. both train together: ``loss = generator MLM loss + 50 * discriminator loss`` (the paper's weight). A sampled
   token that happens to equal the original counts as original.

The discriminator's encoder is an ordinary ``BertModel``, so after pretraining it fine-tunes exactly like a
masked-LM BERT (``BertForSequenceClassification`` loads it). Its masked-LM head is not trained by this objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerBase

from .pretraining import IGNORE_INDEX, mask_tokens, special_token_ids

DISCRIMINATOR_WEIGHT = 50.0  # ELECTRA's lambda: the binary loss is much smaller per token than the MLM loss


class DetectionHead(nn.Module):
    """ELECTRA's discriminator head: dense + GELU + one logit per token (original vs replaced)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.dense(hidden))).squeeze(-1)


def small_generator(config: BertConfig, width_fraction: float = 0.25) -> BertForMaskedLM:
    """A fresh masked-LM generator: same depth and vocabulary, ``width_fraction`` of the hidden width."""
    if not 0 < width_fraction <= 1:
        raise ValueError(f"width_fraction must be in (0, 1], got {width_fraction}")
    hidden = max(16, int(config.hidden_size * width_fraction))
    heads = max(1, config.num_attention_heads * hidden // config.hidden_size)
    small = config.to_dict() | {"hidden_size": hidden, "num_attention_heads": heads, "intermediate_size": 4 * hidden,
                                "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    return BertForMaskedLM(BertConfig(**small))


class ReplacedTokenDetection(nn.Module):
    """The generator and the detection head that train alongside a discriminator ``BertForMaskedLM``.

    Call it with a batch of token blocks to get ``(loss, figures)``; ``figures`` holds the generator's MLM loss,
    the discriminator's loss, its accuracy and the share of tokens replaced. Only the discriminator's ``.bert``
    encoder is used.
    """

    def __init__(self, discriminator: BertForMaskedLM, tokenizer: PreTrainedTokenizerBase,
                 width_fraction: float = 0.25, mlm_probability: float = 0.15, seed: int = 0):
        super().__init__()
        if not isinstance(discriminator, BertForMaskedLM):
            raise TypeError(f"the discriminator must be a BertForMaskedLM, got {type(discriminator).__name__}")
        self.discriminator = [discriminator]  # a list, so its parameters are not registered twice
        self.generator = small_generator(discriminator.config, width_fraction)
        self.head = DetectionHead(discriminator.config.hidden_size)
        self.tokenizer = tokenizer
        self.specials = special_token_ids(tokenizer)
        self.mlm_probability = mlm_probability
        self.sampler = torch.Generator().manual_seed(seed + 1)

    def forward(self, blocks: torch.Tensor, rng: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        discriminator = self.discriminator[0]
        device = next(discriminator.parameters()).device
        masked, labels = mask_tokens(blocks, self.specials, self.tokenizer.mask_token_id, len(self.tokenizer),
                                     self.mlm_probability, rng)
        masked, labels, blocks = masked.to(device), labels.to(device), blocks.to(device)
        selected = labels != IGNORE_INDEX
        generator_hidden = self.generator.bert(input_ids=masked).last_hidden_state
        generator_logits = self.generator.cls(generator_hidden[selected])
        generator_loss = F.cross_entropy(generator_logits.float(), labels[selected])
        with torch.no_grad():  # sample replacements; no gradient flows from the discriminator into the generator
            probabilities = torch.softmax(generator_logits.float(), dim=-1)
            sampled = torch.multinomial(probabilities.cpu(), 1, generator=self.sampler).squeeze(-1).to(device)
        corrupted = blocks.clone()
        corrupted[selected] = sampled
        replaced = (corrupted != blocks).float()
        attention = (blocks != self.tokenizer.pad_token_id).long()
        hidden = discriminator.bert(input_ids=corrupted, attention_mask=attention).last_hidden_state
        logits = self.head(hidden)
        real = attention.bool()
        discriminator_loss = F.binary_cross_entropy_with_logits(logits[real].float(), replaced[real])
        loss = generator_loss + DISCRIMINATOR_WEIGHT * discriminator_loss
        with torch.no_grad():
            accuracy = ((logits[real] > 0).float() == replaced[real]).float().mean().item()
        figures = {"generator_loss": generator_loss.item(), "discriminator_loss": discriminator_loss.item(),
                   "discriminator_accuracy": accuracy, "replaced_share": replaced[real].mean().item()}
        return loss, figures
