"""The sentiment service: every bad request gets a 4xx that says what to do; micro-batching; metrics; a real
server started in a subprocess on a free local port, sent good and bad requests with httpx, then shut down."""

import asyncio
import time

import httpx
import pytest
import torch
from transformers import BertForSequenceClassification

from helpers.loadtest import malformed_requests, plan_requests, run_load_test, running_server, summarise
from helpers.models import bert_config, load_tokenizer
from helpers.profiles import get_profile
from helpers.serve import Limits, MicroBatcher, RateLimiter, RequestError, SentimentModel, create_app, main, validate_request

LIMITS = Limits(max_texts=4, max_chars=20, max_body_bytes=400)


def fake_predict(texts, calls=None):
    if calls is not None:
        calls.append(len(texts))
    time.sleep(0.005)
    return [{"label": "positive" if "好" in t else "negative",
             "probabilities": {"negative": 0.3, "positive": 0.7}} for t in texts]


def call(app, method, path, **kwargs):
    async def go():
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.mark.parametrize("payload,expected", [
    ({"text": "好"}, ["好"]),
    ({"texts": ["好", "差"]}, ["好", "差"]),
])
def test_valid_requests(payload, expected):
    assert validate_request(payload, LIMITS) == expected


@pytest.mark.parametrize("payload,message", [
    ({"texts": []}, "at least one"),
    ({"texts": ["好", 1]}, "texts[1] is a JSON number"),
    ({"text": None}, '"text" is a JSON null'),
    ({"text": " "}, "empty or only whitespace"),
    ({"texts": ["a"] * 5}, "Split them into requests of at most 4"),
    ({"text": "a" * 21}, "the limit is 20"),
    ({"texts": "好"}, "must be a list"),
    ({"text": "好\ud800评"}, "unpaired UTF-16 surrogate"),
    ({"text": "a", "texts": ["b"]}, "not both"),
    ({"review": "a"}, "unknown field"),
    ({}, 'missing "text" or "texts"'),
    ([1], "JSON object"),
])
def test_invalid_requests_say_what_to_do(payload, message):
    with pytest.raises(RequestError) as error:
        validate_request(payload, LIMITS)
    assert error.value.status == 422 and message in error.value.message


@pytest.mark.parametrize("kwargs,status,message", [
    ({"json": {"texts": ["好"]}}, 200, None),
    ({"json": {"texts": []}}, 422, "at least one"),
    ({"json": {"texts": [3]}}, 422, "must be a string"),
    ({"json": {"text": ""}}, 422, "empty"),
    ({"json": {"texts": ["a"] * 5}}, 422, "the limit is 4"),
    ({"json": {"text": "a" * 21}}, 422, "the limit is 20"),
    ({"content": b'{"texts": [', "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ({"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}, 400, "UTF-8"),
    ({"content": b"[" * 150 + b"]" * 150, "headers": {"content-type": "application/json"}}, 422, "JSON object"),
    ({"content": b"x" * 401, "headers": {"content-type": "application/json"}}, 413, "limit is 400"),
    ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "application/json"),
    ({"content": b'{"text": "\\ud800"}', "headers": {"content-type": "application/json"}}, 422, "surrogate"),
])
def test_app_answers_each_request_with_the_right_status(kwargs, status, message):
    app = create_app(fake_predict, LIMITS, max_batch=8, max_wait_ms=1)
    response = call(app, "POST", "/predict", **kwargs)
    assert response.status_code == status
    if message is None:
        assert response.json()["predictions"][0]["label"] == "positive"
    else:
        assert message in response.json()["error"]


def test_deeply_nested_json_is_a_400_not_a_500():
    app = create_app(fake_predict, Limits(max_body_bytes=1_000_000))
    response = call(app, "POST", "/predict", content=b"[" * 200_000 + b"]" * 200_000,
                    headers={"content-type": "application/json"})
    assert response.status_code == 400 and "could not be read as JSON" in response.json()["error"]


def test_concurrent_requests_share_batches_and_keep_their_order():
    calls = []
    app = create_app(lambda texts: fake_predict(texts, calls), LIMITS, max_batch=8, max_wait_ms=30)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            bodies = [{"texts": [f"好{i}"] * (1 + i % 3)} for i in range(12)]
            responses = await asyncio.gather(*(client.post("/predict", json=body) for body in bodies))
            return bodies, responses

    bodies, responses = asyncio.run(go())
    assert all(r.status_code == 200 for r in responses)
    assert [len(r.json()["predictions"]) for r in responses] == [len(b["texts"]) for b in bodies]
    assert sum(calls) == sum(len(b["texts"]) for b in bodies)
    assert len(calls) < len(bodies) and max(calls) <= 8  # batched, never above max_batch


def test_batch_one_serving_runs_every_request_alone():
    calls = []
    app = create_app(lambda texts: fake_predict(texts, calls), LIMITS, max_batch=1, max_wait_ms=30)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            return await asyncio.gather(*(client.post("/predict", json={"text": "好"}) for _ in range(6)))

    assert all(r.status_code == 200 for r in asyncio.run(go()))
    assert calls == [1] * 6


def test_a_failing_model_answers_every_waiting_request():
    def broken(texts):
        raise RuntimeError("model exploded")

    batcher = MicroBatcher(broken, max_batch=4, max_wait_ms=5)

    async def go():
        return await asyncio.gather(*(batcher.submit(["x"]) for _ in range(3)), return_exceptions=True)

    results = asyncio.run(go())
    assert all(isinstance(r, RuntimeError) for r in results)
    app = create_app(broken, LIMITS)
    response = call(app, "POST", "/predict", json={"text": "好"})
    assert response.status_code == 500 and "exploded" not in response.text  # no internals leak to the client


def test_metrics_count_requests_by_status_and_observe_latency():
    app = create_app(fake_predict, LIMITS, max_wait_ms=1)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            await client.post("/predict", json={"texts": ["好", "差"]})
            await client.post("/predict", json={"texts": []})
            await client.get("/nowhere")
            return await client.get("/metrics")

    text = asyncio.run(go()).text
    assert 'sentiment_requests_total{endpoint="/predict",status="200"} 1.0' in text
    assert 'sentiment_requests_total{endpoint="/predict",status="422"} 1.0' in text
    assert 'sentiment_requests_total{endpoint="other",status="404"} 1.0' in text
    assert 'sentiment_request_seconds_count{endpoint="/predict"} 2.0' in text
    assert "sentiment_batch_texts_count 1.0" in text and "sentiment_text_chars_count 2.0" in text
    assert 'sentiment_predictions_total{label="positive"} 1.0' in text


def test_rate_limit_and_api_key():
    app = create_app(fake_predict, LIMITS, rate_limit=1.0, max_wait_ms=1)
    statuses = [call(app, "POST", "/predict", json={"text": "好"}).status_code for _ in range(4)]
    assert statuses[:2] == [200, 200] and statuses[-1] == 429
    clock = [0.0]
    limiter = RateLimiter(2.0, burst=1, clock=lambda: clock[0])
    assert limiter.allow("a") and not limiter.allow("a") and limiter.allow("b")
    clock[0] = 0.5
    assert limiter.allow("a")
    secured = create_app(fake_predict, LIMITS, api_key="s3cret")
    assert call(secured, "POST", "/predict", json={"text": "好"}).status_code == 401
    ok = call(secured, "POST", "/predict", json={"text": "好"}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A small random classifier saved the way the lesson saves the real one (the service does not care)."""
    folder = tmp_path_factory.mktemp("tiny-model")
    torch.manual_seed(0)
    config = bert_config(get_profile("smoke"), num_labels=2, id2label={0: "negative", 1: "positive"},
                         label2id={"negative": 0, "positive": 1})
    BertForSequenceClassification(config).save_pretrained(folder)
    load_tokenizer("course-bert").save_pretrained(folder)
    return folder


def test_only_safetensors_are_loaded(tmp_path, tiny_model):
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(FileNotFoundError, match="pickle files"):
        SentimentModel(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        SentimentModel(tmp_path / "missing")
    assert main(["--model", str(tmp_path / "missing")]) == 2
    predictions = SentimentModel(tiny_model).predict(["好评", "太差了，再也不买"])
    assert len(predictions) == 2 and abs(sum(predictions[0]["probabilities"].values()) - 1) < 1e-4


def test_real_server_in_a_subprocess(tiny_model):
    with running_server(tiny_model, max_batch=8, max_wait_ms=2,
                        extra_args=("--max-texts", "4", "--max-chars", "20", "--max-body-bytes", "400")) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/health").json()["status"] == "ok"
            good = client.post("/predict", json={"texts": ["物流很快", "质量太差"]})
            assert good.status_code == 200
            predictions = good.json()["predictions"]
            assert len(predictions) == 2 and set(predictions[0]["probabilities"]) == {"negative", "positive"}
            assert good.headers["x-request-id"]
            for body, status, message in [({"texts": []}, 422, "at least one"), ({"texts": [7]}, 422, "string"),
                                          ({"texts": ["a"] * 5}, 422, "at most 4"),
                                          ({"text": "很" * 21}, 422, "limit is 20")]:
                response = client.post("/predict", json=body)
                assert response.status_code == status and message in response.json()["error"]
            bad_json = client.post("/predict", content=b"{oops", headers={"content-type": "application/json"})
            assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
            too_big = client.post("/predict", content=b"x" * 5000, headers={"content-type": "application/json"})
            assert too_big.status_code == 413
            metrics = client.get("/metrics").text
            assert 'sentiment_requests_total{endpoint="/predict",status="200"} 1.0' in metrics
            assert 'sentiment_requests_total{endpoint="/predict",status="422"} 4.0' in metrics
        report = run_load_test(url, ["好评", "很差", "物流快"], requests=40, clients=4, malformed_share=0.25,
                               time_limit_s=60)
    assert report["lost"] == 0 and report["status_500_or_more"] == 0
    assert report["by_status"].get("200") == 30 and report["malformed_answered_4xx"] == 10
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/health", timeout=2)  # shut down


def test_load_plan_and_summary():
    plan = plan_requests(["好评"] * 3 + ["x" * 600], 50, 0.2, seed=1)
    assert len(plan) == 50 and sum(p.kind != "good" for p in plan) == 10
    assert all(len(p.body) < 600 for p in plan if p.kind == "good")  # over-long reviews are not "good" requests
    assert plan == plan_requests(["好评"] * 3 + ["x" * 600], 50, 0.2, seed=1)
    assert {p.expected_status for p in malformed_requests()} == {400, 413, 415, 422}
    records = [{"kind": "good", "expected": 200, "status": 200, "seconds": s / 1000, "problem": None}
               for s in range(1, 101)]
    records += [{"kind": "empty text", "expected": 422, "status": 422, "seconds": 0.001, "problem": None},
                {"kind": "good", "expected": 200, "status": None, "seconds": 1.0, "problem": "ReadTimeout"}]
    summary = summarise(records, wall_seconds=2.0, planned=103, clients=4)
    assert summary["lost"] == 1 and summary["not_sent_time_limit"] == 1 and summary["unexpected"] == 1
    assert summary["latency_ms"]["p50"] == pytest.approx(50.5) and summary["latency_ms"]["p99"] == pytest.approx(99.01)
    assert summary["by_status"] == {"200": 100, "422": 1, "no response": 1}
    with pytest.raises(ValueError, match="non-blank"):
        plan_requests(["", "x" * 600], 10)


def test_length_sorted_chunks_keep_each_text_with_its_own_prediction(tiny_model):
    texts = ["好", "这本书的内容非常丰富，推荐购买", "差评", "物流太慢了，等了一个星期才到货，包装也破了", "还行"]
    chunked = SentimentModel(tiny_model, sub_batch=2).predict(texts)
    alone = [SentimentModel(tiny_model, sub_batch=1).predict([text])[0] for text in texts]
    for a, b in zip(chunked, alone):
        assert a["label"] == b["label"]
        assert abs(a["probabilities"]["positive"] - b["probabilities"]["positive"]) < 1e-4
    with pytest.raises(ValueError, match="sub_batch"):
        SentimentModel(tiny_model, sub_batch=0)
