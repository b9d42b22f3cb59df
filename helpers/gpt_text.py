"""Text in and out of a GPT the way it was trained: where a text starts, and characters back without spaces.

Two GPTs can be dropped into lessons 05 and 06, and they differ in two ways that silently skew every metric:

* **How a text starts.** The course GPT was pretrained on one stream of documents, each ended by ``[SEP]``
  (:func:`helpers.pretraining.pack_blocks`), so a new document is what follows a ``[SEP]``. A Chinese GPT-2 from
  the Hub such as ``uer/gpt2-chinese-cluecorpussmall`` (a ``BertTokenizer`` + ``GPT2LMHeadModel``) was trained
  on ``[CLS] text [SEP]``. :func:`text_start_ids` gives the ids to put in front of a prompt for either.
* **How ids decode.** The course tokenizer joins characters; a ``BertTokenizer`` puts a space between every two
  tokens (``今 天 天 气``). A space is then counted as a character by distinct-n, shifts every n-gram, and breaks
  the verbatim-copy search. :func:`decode_text` returns the real characters: it removes the spaces a decoder
  inserted and keeps only those between two Latin words or numbers (``iphone 4``).

The Hub model cannot be downloaded here, so the tests build :func:`bert_style_tokenizer`: a ``BertTokenizer``
with the same settings as the Hub model's and a ``vocab.txt`` written from the course vocabulary, which decodes
with spaces exactly as the Hub one does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from transformers import BertTokenizer, PreTrainedTokenizerBase

from .models import COURSE_CHECKPOINTS

FULL_WIDTH_PUNCTUATION = "，！？：；（）"
# a run of whitespace, unless it separates two ASCII letters/digits ("iphone 4", "wifi ok")
_INSERTED_SPACE = re.compile(r"(?<![A-Za-z0-9])\s+|\s+(?![A-Za-z0-9])")


def is_course_gpt(name_or_path: str | Path) -> bool:
    """Whether a model name or folder is a course GPT (pretrained by :mod:`helpers.checkpoints` on [SEP]-ended text)."""
    if isinstance(name_or_path, str) and name_or_path.strip() in COURSE_CHECKPOINTS:
        return name_or_path.strip() == "course-gpt"
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"expected a model name or folder, got {type(name_or_path).__name__}")
    record = Path(name_or_path).expanduser() / "training_record.json"
    if not record.is_file():
        return False
    try:
        return json.loads(record.read_text(encoding="utf-8")).get("kind") == "gpt"
    except (OSError, ValueError):
        return False


def text_start_ids(tokenizer: PreTrainedTokenizerBase, name_or_path: str | Path) -> list[int]:
    """The ids that begin a text in the model's pretraining, to put in front of every prompt and training example.

    ``[SEP]`` for a course GPT (a document follows the previous one's ``[SEP]``); ``[CLS]`` for a Hub GPT with a
    BERT-style tokenizer (uer/gpt2-chinese-*: ``[CLS] text [SEP]``); else the tokenizer's ``bos_token`` (English
    GPT-2's ``<|endoftext|>``); else nothing.
    """
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise TypeError(f"expected a transformers tokenizer, got {type(tokenizer).__name__}")
    if is_course_gpt(name_or_path):
        if tokenizer.sep_token_id is None:
            raise ValueError("a course GPT's tokenizer must have a [SEP] token; load it with load_tokenizer('course-gpt')")
        return [tokenizer.sep_token_id]
    for token_id in (tokenizer.cls_token_id, tokenizer.bos_token_id):
        if token_id is not None:
            return [token_id]
    return []


def decode_text(tokenizer: PreTrainedTokenizerBase, ids) -> str:
    """The characters of ``ids``: special tokens dropped, and no space the decoder inserted between characters.

    Spaces between two ASCII letters or digits are kept (they separate real words); every other whitespace run is
    removed, which for Chinese text is always an artefact of decoding (the course tokenizer drops whitespace).
    """
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) for i in ids):
        raise TypeError("decode_text needs one sequence of token ids (a list of ints or a 1-D tensor)")
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return _INSERTED_SPACE.sub("", text).strip()


def decode_texts(tokenizer: PreTrainedTokenizerBase, sequences) -> list[str]:
    """:func:`decode_text` for each row of a batch (a 2-D tensor or a list of id lists)."""
    return [decode_text(tokenizer, ids) for ids in sequences]


def bert_style_tokenizer(course_tokenizer: PreTrainedTokenizerBase, folder: str | Path) -> BertTokenizer:
    """A ``BertTokenizer`` like uer/gpt2-chinese-cluecorpussmall's, with the course vocabulary.

    Writes ``vocab.txt`` (one token per line, in id order) to ``folder`` and loads it with BERT's settings:
    lower-casing, every CJK character a token of its own, ``[CLS] text [SEP]`` around each text, and a decoder
    that joins tokens with spaces. The course vocabulary keeps its ids; full-width punctuation (，！？：；（）),
    which the course tokenizer folds to ASCII but a BertTokenizer does not, is appended after it, as the Hub
    vocabulary has it too. (In transformers 5 ``BertTokenizer`` is the fast, Rust-backed one.)
    """
    vocabulary = course_tokenizer.get_vocab()
    if not vocabulary or "[CLS]" not in vocabulary or "[SEP]" not in vocabulary:
        raise ValueError("the course tokenizer needs a vocabulary with [CLS] and [SEP]; load it with load_tokenizer()")
    tokens = sorted(vocabulary, key=vocabulary.get)
    if [vocabulary[t] for t in tokens] != list(range(len(tokens))):
        raise ValueError("the vocabulary's ids must run 0..n-1 without gaps to be written as a vocab.txt")
    tokens += [char for char in FULL_WIDTH_PUNCTUATION if char not in vocabulary]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True, tokenize_chinese_chars=True,
                         model_max_length=course_tokenizer.model_max_length)
