"""The course tokenizer: one token per Chinese character, shared by the BERT and the GPT models.

It follows the scheme of ``bert-base-chinese``: every CJK character is its own token, other text is
split on whitespace and punctuation and then into WordPiece sub-words (``iphone`` -> ``ip ##ho ##n
##e``). Two deliberate differences: text is NFKC-normalised first, so full-width digits and
letters (``１９９８``, common in People's Daily) become ASCII, and digits are split one per token, so
no number is ever unknown. Decoding joins tokens without spaces, which is right for Chinese.

It is trained with the ``tokenizers`` library on the training text only (review train split +
People's Daily train slice) and wrapped as a ``transformers`` fast tokenizer. The trained files ship
in ``helpers/assets/tokenizer`` so that every lesson and every checkpoint uses the same vocabulary;
``python -m helpers.tokenization`` rebuilds them (a test checks the rebuild is identical).
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from .data import load_pretraining_text, load_reviews

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCAB_SIZE = 8000  # an upper bound; with min_frequency=2 training stops near 6,200 tokens
ALPHABET_LIMIT = 6000  # most frequent characters kept; the rarest become [UNK]
MODEL_MAX_LENGTH = 512


def tokenizer_dir() -> Path:
    """Folder of the shipped course tokenizer (``tokenizer.json`` and its config)."""
    return Path(__file__).resolve().parent / "assets" / "tokenizer"


def tokenizer_training_texts() -> list[str]:
    """The text the tokenizer learns its vocabulary from: training splits only, never test."""
    return list(load_reviews()["train"]["text"]) + list(load_pretraining_text()["train"]["text"])


def build_char_tokenizer(
    texts: list[str], vocab_size: int = VOCAB_SIZE, alphabet_limit: int = ALPHABET_LIMIT
) -> PreTrainedTokenizerFast:
    """Train the character-level tokenizer on ``texts`` and wrap it for ``transformers``."""
    if isinstance(texts, str) or not texts:
        raise ValueError("build_char_tokenizer needs a non-empty list of strings, not a single string")
    core = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    core.normalizer = normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.BertNormalizer(
                clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True
            ),
        ]
    )
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Digits(individual_digits=True)]
    )
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        limit_alphabet=alphabet_limit,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    cls_id, sep_id = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    core.decoder = decoders.Sequence([decoders.Replace("##", ""), decoders.Fuse()])
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[CLS]",
        eos_token="[SEP]",
        model_max_length=MODEL_MAX_LENGTH,
    )


def load_course_tokenizer(path: str | Path | None = None) -> PreTrainedTokenizerFast:
    """Load the shipped course tokenizer (or one saved with ``save_pretrained`` at ``path``)."""
    folder = Path(path) if path is not None else tokenizer_dir()
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"No tokenizer.json in {folder}. Rebuild the course tokenizer with "
            "`python -m helpers.tokenization`, or pass the folder a tokenizer was saved to."
        )
    return AutoTokenizer.from_pretrained(str(folder))


def unk_rate(tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> float:
    """Share of produced tokens (specials excluded) that are ``[UNK]``."""
    if isinstance(texts, str) or not texts:
        raise ValueError("unk_rate needs a non-empty list of strings")
    encoded = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    total = sum(len(ids) for ids in encoded)
    unknown = sum(ids.count(tokenizer.unk_token_id) for ids in encoded)
    return unknown / max(total, 1)


def show_tokens(tokenizer: PreTrainedTokenizerFast, text: str) -> list[tuple[str, int]]:
    """``(token, id)`` pairs for one text, special tokens included: what the model really sees."""
    if not isinstance(text, str):
        raise TypeError(f"show_tokens expects a str, got {type(text).__name__}")
    ids = tokenizer(text)["input_ids"]
    return list(zip(tokenizer.convert_ids_to_tokens(ids), ids))


def main() -> None:
    """Rebuild ``helpers/assets/tokenizer`` from the training text and report its statistics."""
    tokenizer = build_char_tokenizer(tokenizer_training_texts())
    tokenizer.save_pretrained(str(tokenizer_dir()))
    test_texts = list(load_reviews()["test"]["text"])
    print(f"vocabulary size: {len(tokenizer)}")
    print(f"[UNK] rate on the review test split: {unk_rate(tokenizer, test_texts):.3%}")


if __name__ == "__main__":
    main()
