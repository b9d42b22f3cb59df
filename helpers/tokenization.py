"""The course tokenizer: one token per Chinese character, shared by the BERT and the GPT models.

It follows the scheme of ``bert-base-chinese``: every CJK character is its own token; other text is
split on whitespace and punctuation, and each Latin word becomes one token if it is frequent
(``windows``, ``ok``) or WordPiece pieces otherwise (``iphone`` -> ``i ##p ##h ##o ##n ##e``). Two
deliberate differences: text is NFKC-normalised first, so full-width digits and letters (``１９９８``,
common in People's Daily) become ASCII, and digits are split one per token, so no number is ever
unknown. Decoding joins tokens without spaces, which is right for Chinese.

The vocabulary is counted from the training text only (review train split + People's Daily train
slice); the pipeline (normaliser, pre-tokenizer, WordPiece model, post-processor, decoder) is the
``tokenizers`` library's, wrapped as a ``transformers`` fast tokenizer. The files ship in
``helpers/assets/tokenizer`` so that every lesson and every checkpoint uses the same vocabulary;
``python -m helpers.tokenization`` rebuilds them, and a test checks that the rebuild is identical.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from .data import load_pretraining_text, load_reviews

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ALPHABET_LIMIT = 6000  # at most this many single characters, the most frequent
MIN_COUNT = 1  # every character seen in the training text gets a token; unseen ones become [UNK]
MIN_WORD_COUNT = 20  # a Latin word seen this often gets a token of its own
MODEL_MAX_LENGTH = 512


def tokenizer_dir() -> Path:
    """Folder of the shipped course tokenizer (``tokenizer.json`` and its config)."""
    return Path(__file__).resolve().parent / "assets" / "tokenizer"


def tokenizer_training_texts() -> list[str]:
    """The text the tokenizer learns its vocabulary from: training splits only, never test."""
    return list(load_reviews()["train"]["text"]) + list(load_pretraining_text()["train"]["text"])


def _normalizer() -> normalizers.Normalizer:
    """NFKC (full-width -> ASCII), then BERT's cleaning: CJK characters spaced out, lower case."""
    return normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.BertNormalizer(
                clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True
            ),
        ]
    )


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Split on whitespace and punctuation (BERT), then every digit on its own."""
    return pre_tokenizers.Sequence(
        [pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Digits(individual_digits=True)]
    )


def count_words(texts: list[str]) -> Counter:
    """How often each pre-tokenized word occurs (a CJK character is a word on its own)."""
    normalizer, pre_tokenizer = _normalizer(), _pre_tokenizer()
    counts: Counter = Counter()
    for text in texts:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def build_vocabulary(
    word_counts: Counter, alphabet_limit: int = ALPHABET_LIMIT, min_count: int = MIN_COUNT,
    min_word_count: int = MIN_WORD_COUNT,
) -> list[str]:
    """The vocabulary, deterministically: ties are broken by the token itself, never by hash order.

    1. special tokens; 2. single characters seen at least ``min_count`` times, most frequent first,
    at most ``alphabet_limit``; 3. ``##c`` continuation pieces for characters seen inside multi-character
    (Latin) words; 4. whole multi-character words seen at least ``min_word_count`` times.
    """
    chars: Counter = Counter()
    continuations: Counter = Counter()
    for word, count in word_counts.items():
        for position, char in enumerate(word):
            chars[char] += count
            if position:
                continuations[char] += count
    ranked = sorted((c for c, n in chars.items() if n >= min_count), key=lambda c: (-chars[c], c))
    alphabet = ranked[:alphabet_limit]
    known = set(alphabet)
    pieces = sorted(f"##{c}" for c, n in continuations.items() if n >= min_count and c in known)
    words = sorted(
        (w for w, n in word_counts.items() if len(w) > 1 and n >= min_word_count and set(w) <= known),
        key=lambda w: (-word_counts[w], w),
    )
    return list(SPECIAL_TOKENS) + alphabet + pieces + words


def build_char_tokenizer(texts: list[str], alphabet_limit: int = ALPHABET_LIMIT) -> PreTrainedTokenizerFast:
    """Build the character-level tokenizer from ``texts`` and wrap it for ``transformers``.

    The vocabulary is counted by hand (see :func:`build_vocabulary`) rather than with
    ``WordPieceTrainer``, whose result changes from run to run when counts tie: a checkpoint's
    embedding rows must mean the same characters forever.
    """
    if isinstance(texts, str) or not texts:
        raise ValueError("build_char_tokenizer needs a non-empty list of strings, not a single string")
    vocabulary = build_vocabulary(count_words(texts), alphabet_limit=alphabet_limit)
    core = Tokenizer(
        models.WordPiece(
            vocab={token: index for index, token in enumerate(vocabulary)},
            unk_token="[UNK]",
            max_input_chars_per_word=100,
        )
    )
    core.normalizer = _normalizer()
    core.pre_tokenizer = _pre_tokenizer()
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
