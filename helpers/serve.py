"""A real inference service for the sentiment classifier (模型服务化): FastAPI + uvicorn, dynamic micro-batching,
Prometheus metrics, and input checks that answer every bad request with a 4xx that says what to do.

Start it with one command (the folder is a ``save_pretrained`` folder, e.g. the cached lesson-02 classifier from
:func:`helpers.deployment.load_or_train_classifier`)::

    python -m helpers.serve --model build/deployment/sentiment-cpu-<digest> --port 8000

Endpoints:

* ``POST /predict`` with ``{"text": "..."}`` or ``{"texts": ["...", ...]}`` -> ``{"predictions": [{"label",
  "probabilities"}, ...]}``, one per text, in order;
* ``GET /health`` -> ``{"status": "ok", ...}``;
* ``GET /metrics`` -> Prometheus text format: requests by endpoint and status, request latency histogram, batch
  sizes, model time per batch, input lengths in characters (to watch for drift) and predicted labels.

Micro-batching (动态批处理): requests wait in an asyncio queue; a single worker takes the first one, everything
already queued behind it, and whatever else arrives within ``max_wait_ms``, up to ``max_batch`` texts, and runs them
through the model as one padded batch in a worker thread (the event loop keeps accepting connections meanwhile).
``max_batch=1`` is plain one-request-at-a-time serving through the same code path, for comparison.

Safety: weights load from safetensors only (a pickle file such as ``pytorch_model.bin`` can run code when loaded);
the request body is capped before it is parsed; texts are counted and measured before tokenising; an optional
per-client rate limit (429) and API key (401); the service binds to 127.0.0.1 unless told otherwise; logs record
lengths, statuses and timings, never the texts themselves.
"""

import argparse
import asyncio
import hmac
import json
import logging
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

LOGGER = logging.getLogger("helpers.serve")
ENDPOINTS = ("/predict", "/health", "/metrics")
API_KEY_ENV_VAR = "SENTIMENT_API_KEY"


# ------------------------------------------------------------------------------------------ request checks
@dataclass(frozen=True)
class Limits:
    """What one request may contain. The defaults suit reviews (median 46 characters, 99th percentile 350)."""

    max_texts: int = 32
    max_chars: int = 512
    max_body_bytes: int = 64 * 1024


class RequestError(Exception):
    """A bad request: an HTTP status (4xx) and a message that tells the client what to do instead."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


EXAMPLE = '{"texts": ["物流很快，包装完好。", "质量太差了。"]}'


def validate_request(payload: Any, limits: Limits = Limits()) -> list[str]:
    """The texts of a parsed JSON request, or :class:`RequestError` (422) saying what is wrong and how to fix it.

    Accepted: ``{"text": str}`` or ``{"texts": [str, ...]}``, with 1 to ``max_texts`` texts, each non-blank and at
    most ``max_chars`` characters.
    """
    if not isinstance(payload, dict):
        raise RequestError(422, f"the body must be a JSON object such as {EXAMPLE}, got a JSON {_json_type(payload)}")
    unknown = sorted(set(payload) - {"text", "texts"})
    if unknown:
        raise RequestError(422, f"unknown field(s) {unknown}: send only \"text\" (one review) or \"texts\" (a list), "
                                f"e.g. {EXAMPLE}")
    if "text" in payload and "texts" in payload:
        raise RequestError(422, 'send either "text" (one review) or "texts" (a list), not both')
    if "text" in payload:
        texts, where = [payload["text"]], lambda i: '"text"'
    elif "texts" in payload:
        texts, where = payload["texts"], lambda i: f"texts[{i}]"
        if not isinstance(texts, list):
            raise RequestError(422, f'"texts" must be a list of strings, got a JSON {_json_type(texts)}; '
                                    'for a single review send {"text": "..."}')
        if not texts:
            raise RequestError(422, '"texts" is empty: send at least one review')
        if len(texts) > limits.max_texts:
            raise RequestError(422, f"{len(texts)} texts in one request; the limit is {limits.max_texts}. Split them "
                                    f"into requests of at most {limits.max_texts}")
    else:
        raise RequestError(422, f'missing "text" or "texts": send e.g. {EXAMPLE}')
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(422, f"{where(i)} is a JSON {_json_type(text)}; every review must be a string")
        if not text.strip():
            raise RequestError(422, f"{where(i)} is empty or only whitespace: send the review's text")
        if len(text) > limits.max_chars:
            raise RequestError(422, f"{where(i)} has {len(text):,} characters; the limit is {limits.max_chars}. "
                                    "Shorten it or split it into several texts")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate such as "\ud800": JSON allows it, the tokenizer cannot take it
            raise RequestError(422, f"{where(i)} contains an unpaired UTF-16 surrogate (an escape like \\ud800 "
                                    "without its partner): send valid Unicode text") from None
    return list(texts)


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (str, "string"), (int, "number"), (float, "number"), (list, "array"),
                       (dict, "object"), (type(None), "null")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def parse_body(body: bytes, limits: Limits = Limits()) -> Any:
    """Bytes -> JSON value, or :class:`RequestError` (413 too large, 400 not UTF-8 JSON)."""
    if len(body) > limits.max_body_bytes:
        raise RequestError(413, f"the body has {len(body):,} bytes; the limit is {limits.max_body_bytes:,}. Send fewer "
                                "or shorter texts per request")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not UTF-8 text: encode the JSON as UTF-8") from None
    except json.JSONDecodeError as error:
        raise RequestError(400, f"the body is not valid JSON ({error.msg} at line {error.lineno} column {error.colno}); "
                                f"send e.g. {EXAMPLE} with Content-Type: application/json") from None
    except (ValueError, RecursionError) as error:  # nesting too deep, a number too long to convert
        raise RequestError(400, f"the body could not be read as JSON ({type(error).__name__}); send e.g. {EXAMPLE}") from None


class RateLimiter:
    """A token bucket per client: ``rate`` requests per second on average, bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int | None = None, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate}")
        self.rate, self.burst, self.clock = float(rate), int(burst or max(1, round(2 * rate))), clock
        self.buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str) -> bool:
        """Take a token for ``client``; False when its bucket is empty (answer 429)."""
        now = self.clock()
        tokens, last = self.buckets.get(client, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        self.buckets[client] = (tokens - 1 if allowed else tokens, now)
        if len(self.buckets) > 10_000:  # forget idle clients rather than grow without bound
            self.buckets = dict(list(self.buckets.items())[-5_000:])
        return allowed


# ------------------------------------------------------------------------------------------------- model
class SentimentModel:
    """A sequence classifier from a ``save_pretrained`` folder (safetensors only), ready to predict texts."""

    def __init__(self, folder: str | Path, max_length: int | None = None, int8: bool = False, sub_batch: int = 8):
        import torch
        from transformers import BertForSequenceClassification

        from .models import load_pretrained, load_tokenizer

        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"--model {folder}: no such folder. Give the folder written by save_pretrained, e.g. "
                                    "the one helpers.deployment.load_or_train_classifier(profile).folder names")
        if not (folder / "model.safetensors").is_file():
            pickles = sorted(p.name for p in folder.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt"))
            raise FileNotFoundError(
                f"--model {folder}: no model.safetensors. Only safetensors weights are served"
                + (f"; found {pickles}, which are pickle files: loading one can run arbitrary code. Convert them once, "
                   "in a trusted environment, with model.save_pretrained(folder) (safetensors by default)" if pickles
                   else ""))
        self.folder = folder
        self.model = load_pretrained(BertForSequenceClassification, folder).eval()
        self.tokenizer = load_tokenizer(folder)
        record = folder / "training_record.json"
        trained_length = json.loads(record.read_text())["recipe"]["max_length"] if record.is_file() else None
        self.max_length = max_length or trained_length or self.model.config.max_position_embeddings
        self.int8 = int8
        if not isinstance(sub_batch, int) or sub_batch < 1:
            raise ValueError(f"sub_batch must be a positive int, got {sub_batch!r}")
        self.sub_batch = sub_batch
        if int8:
            from .compression import quantize_int8

            self.model = quantize_int8(self.model)
        config = self.model.config
        self.labels = [config.id2label.get(i, str(i)) for i in range(config.num_labels)]
        self._torch = torch

    def predict(self, texts: list[str]) -> list[dict]:
        """Label and probability of every label for each text, in order, without gradients.

        The texts are sorted by length and run in chunks of at most ``sub_batch``: padding a short review to the
        longest of 32 costs more than the batching saves (measured in lesson 08), padding within a chunk of
        similar lengths costs little.
        """
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.sub_batch):
            chunk = order[start:start + self.sub_batch]
            batch = self.tokenizer([texts[i] for i in chunk], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt")
            with self._torch.inference_mode():
                probabilities = self._torch.softmax(self.model(**batch).logits.float(), dim=-1).tolist()
            for i, row in zip(chunk, probabilities):
                rows[i] = row
        return [{"label": self.labels[max(range(len(row)), key=row.__getitem__)],
                 "probabilities": {label: round(p, 6) for label, p in zip(self.labels, row)}} for row in rows]


# ------------------------------------------------------------------------------------------ micro-batching
class MicroBatcher:
    """Gathers concurrent requests into batches of at most ``max_batch`` texts, waiting at most ``max_wait_ms``."""

    def __init__(self, predict: Callable[[list[str]], list[dict]], max_batch: int = 32, max_wait_ms: float = 5.0,
                 on_batch: Callable[[int, float], None] | None = None):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"need max_batch >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}")
        self.predict, self.max_batch, self.max_wait = predict, max_batch, max_wait_ms / 1000
        self.on_batch = on_batch
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")  # one batch at a time

    def _ensure_started(self) -> None:
        if self.worker is None or self.worker.done():
            self.queue = asyncio.Queue()
            self.worker = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, texts: list[str]) -> list[dict]:
        """Queue ``texts`` (one request) and wait for their predictions."""
        self._ensure_started()
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    def depth(self) -> int:
        """Requests waiting for the model now."""
        return self.queue.qsize() if self.queue is not None else 0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        carried = None
        while True:
            first = carried or await self.queue.get()
            carried = None
            items, count = [first], len(first[0])
            deadline = loop.time() + self.max_wait
            while count < self.max_batch:
                try:
                    item = self.queue.get_nowait()  # already waiting: take it without delay
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self.queue.get(), remaining)
                    except (asyncio.TimeoutError, TimeoutError):
                        break
                if count + len(item[0]) > self.max_batch:
                    carried = item  # would overflow this batch: it opens the next one
                    break
                items.append(item)
                count += len(item[0])
            texts = [text for item_texts, _ in items for text in item_texts]
            start = time.perf_counter()
            try:
                results = await loop.run_in_executor(self.executor, self.predict, texts)
            except Exception as error:  # noqa: BLE001 - every waiting request must get an answer
                for _, future in items:
                    if not future.done():
                        future.set_exception(error)
                continue
            if self.on_batch is not None:
                self.on_batch(len(texts), time.perf_counter() - start)
            position = 0
            for item_texts, future in items:
                if not future.done():
                    future.set_result(results[position:position + len(item_texts)])
                position += len(item_texts)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------------------------------- app
def create_app(model: SentimentModel | Callable[[list[str]], list[dict]], limits: Limits = Limits(),
               max_batch: int = 32, max_wait_ms: float = 5.0, rate_limit: float = 0.0, api_key: str | None = None,
               model_name: str = "sentiment"):
    """The FastAPI application around ``model`` (a :class:`SentimentModel` or any ``texts -> predictions`` function).

    ``rate_limit`` > 0: requests per second allowed per client address (429 beyond). ``api_key``: required as
    ``Authorization: Bearer <key>`` on ``/predict`` (401 without it).
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    predict = model.predict if isinstance(model, SentimentModel) else model
    registry = CollectorRegistry()  # one per app: two apps in one process do not share counters
    requests_total = Counter("sentiment_requests", "HTTP requests by endpoint and status", ["endpoint", "status"],
                             registry=registry)
    request_seconds = Histogram("sentiment_request_seconds", "Request latency from first byte to response",
                                ["endpoint"], registry=registry,
                                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
    batch_texts = Histogram("sentiment_batch_texts", "Texts per model batch", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128))
    model_seconds = Histogram("sentiment_model_seconds", "Model time per batch (tokenising + forward)",
                              registry=registry, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))
    text_chars = Histogram("sentiment_text_chars", "Characters per served text (watch for drift)", registry=registry,
                           buckets=(10, 20, 50, 100, 200, 350, 512, 1024))
    predictions_total = Counter("sentiment_predictions", "Predicted labels", ["label"], registry=registry)
    queue_depth = Gauge("sentiment_queue_depth", "Requests waiting for the model", registry=registry)

    def on_batch(size: int, seconds: float) -> None:
        batch_texts.observe(size)
        model_seconds.observe(seconds)

    batcher = MicroBatcher(predict, max_batch=max_batch, max_wait_ms=max_wait_ms, on_batch=on_batch)
    limiter = RateLimiter(rate_limit) if rate_limit > 0 else None

    @asynccontextmanager
    async def lifespan(_app):
        yield
        batcher.close()

    app = FastAPI(title="Review sentiment", version="1.0", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.batcher = batcher

    def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)

    async def measure(router, scope, receive, send):
        """Pure ASGI middleware (cheaper than ``@app.middleware``): status and latency of every request, a request
        id header, one JSON log line per /predict, and a JSON 500 (no internals) if anything inside raises."""
        if scope["type"] != "http":
            return await router(scope, receive, send)
        start, request_id = time.perf_counter(), uuid.uuid4().hex[:12]
        scope.setdefault("state", {})["request_id"] = request_id
        status = [500]

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await router(scope, receive, send_with_id)
        except Exception:  # noqa: BLE001 - logged with its traceback, answered as a 500 without internals
            LOGGER.exception("unhandled error on %s (request %s)", scope.get("path"), request_id)
            status[0] = 500
            await error(500, f"internal error, logged as request {request_id}; retry later or report that id")(
                scope, receive, send_with_id)
        finally:
            endpoint = scope.get("path") if scope.get("path") in ENDPOINTS else "other"  # bounded label values
            seconds = time.perf_counter() - start
            requests_total.labels(endpoint, str(status[0])).inc()
            request_seconds.labels(endpoint).observe(seconds)
            if endpoint == "/predict" and LOGGER.isEnabledFor(logging.INFO):
                LOGGER.info(json.dumps({"request_id": request_id, "status": status[0], "ms": round(1000 * seconds, 2),
                                        **scope["state"].get("log", {})}))

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "model": model_name, "max_batch": max_batch, "max_wait_ms": max_wait_ms,
                "limits": asdict(limits),
                "queue_depth": batcher.depth()})

    @app.get("/metrics")
    async def metrics() -> Response:
        queue_depth.set(batcher.depth())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    async def predict_endpoint(request: Request):
        if api_key is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return error(401, "missing or wrong API key: send the header 'Authorization: Bearer <key>'")
        if limiter is not None and not limiter.allow(request.client.host if request.client else "unknown"):
            return error(429, f"too many requests: at most {rate_limit:g} per second per client; wait and retry",
                         {"Retry-After": "1"})
        content_type = request.headers.get("content-type", "")
        if content_type and not content_type.split(";")[0].strip().lower() == "application/json":
            return error(415, f"Content-Type {content_type!r} is not supported: send JSON with "
                              "Content-Type: application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            return error(413, f"the body has {int(declared):,} bytes; the limit is {limits.max_body_bytes:,}. "
                              "Send fewer or shorter texts per request")
        body = bytearray()
        async for chunk in request.stream():  # also caps bodies sent without a Content-Length (chunked)
            body.extend(chunk)
            if len(body) > limits.max_body_bytes:
                return error(413, f"the body is over the limit of {limits.max_body_bytes:,} bytes. Send fewer or "
                                  "shorter texts per request")
        try:
            texts = validate_request(parse_body(bytes(body), limits), limits)
        except RequestError as bad:
            request.state.log = {"rejected": bad.message[:120]}
            return error(bad.status, bad.message)
        lengths = [len(text) for text in texts]
        for length in lengths:
            text_chars.observe(length)
        results = await batcher.submit(texts)
        for result in results:
            predictions_total.labels(result["label"]).inc()
        request.state.log = {"texts": len(texts), "chars": lengths, "labels": [r["label"] for r in results]}
        return JSONResponse({"predictions": results, "model": model_name})

    app.add_middleware(_ASGIMiddleware, handler=measure)
    return app


class _ASGIMiddleware:
    """Runs ``handler(inner_app, scope, receive, send)`` around the app: a plain ASGI layer (no per-request tasks
    and streams, unlike ``@app.middleware("http")``, which costs a noticeable share of a small model's latency)."""

    def __init__(self, app, handler):
        self.app, self.handler = app, handler

    async def __call__(self, scope, receive, send):
        await self.handler(self.app, scope, receive, send)


# --------------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder written by save_pretrained (model.safetensors inside)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-batch", type=int, default=32, help="texts per model batch (1 = no micro-batching)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a batch waits for more requests")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the model")
    parser.add_argument("--int8", action="store_true", help="serve the dynamically int8-quantized model")
    parser.add_argument("--sub-batch", type=int, default=8, help="a batch runs as length-sorted chunks of this many")
    parser.add_argument("--max-texts", type=int, default=Limits.max_texts)
    parser.add_argument("--max-chars", type=int, default=Limits.max_chars)
    parser.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes)
    parser.add_argument("--rate-limit", type=float, default=0.0, help="requests/s per client (0 = no limit)")
    parser.add_argument("--log-requests", action="store_true", help="log one JSON line per /predict request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.log_requests else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    import uvicorn

    torch.set_num_threads(args.threads)
    from .env import quiet_libraries

    quiet_libraries()
    try:
        model = SentimentModel(args.model, int8=args.int8, sub_batch=args.sub_batch)
    except (FileNotFoundError, OSError, ValueError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    limits = Limits(max_texts=args.max_texts, max_chars=args.max_chars, max_body_bytes=args.max_body_bytes)
    app = create_app(model, limits, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                     rate_limit=args.rate_limit, api_key=os.environ.get(API_KEY_ENV_VAR) or None,
                     model_name=Path(args.model).name + (" (int8)" if args.int8 else ""))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
