"""Loading a Hub name fails within 10 s, with a message that names the course checkpoints and the variables that
matter, in every network condition; a working mirror in HF_ENDPOINT works. Every server is local (loopback)."""

from __future__ import annotations

import socket
import time

import pytest
from transformers import BertForSequenceClassification, GPT2LMHeadModel

from helpers import hub
from helpers.env import environment_summary, hub_reachable
from helpers.hub import HubModelUnavailable, probe
from helpers.models import bert_config, load_pretrained, load_tokenizer
from helpers.profiles import get_profile
from helpers.tokenization import load_course_tokenizer
from hub_server import closed_port, http_endpoint, mirror, stalling_listener

NOT_CACHED = "course-tests/not-a-cached-bert"  # a valid Hub name that no cache holds
LIMIT = 10.0  # seconds a failed load may take


@pytest.fixture
def network(monkeypatch, tmp_path):
    """A clean network environment: not offline, no proxies, huggingface_hub's endpoint restored afterwards."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", *hub._PROXY_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", constants.ENDPOINT)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", constants.HUGGINGFACE_CO_URL_TEMPLATE)
    from huggingface_hub import hf_api
    from transformers.utils import hub as transformers_hub

    for client in (hf_api.api, transformers_hub.hf_api()):
        monkeypatch.setattr(client, "endpoint", client.endpoint)
    return tmp_path


def failed_load(name: str = NOT_CACHED, model_class=BertForSequenceClassification, cache_dir=None) -> str:
    start = time.perf_counter()
    with pytest.raises(HubModelUnavailable) as info:
        load_pretrained(model_class, name, cache_dir=str(cache_dir) if cache_dir else None)
    elapsed = time.perf_counter() - start
    assert elapsed < LIMIT, f"took {elapsed:.1f} s"
    message = str(info.value)
    for needed in ("'course-bert'", "'course-gpt'", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
        assert needed in message, needed
    return message


def test_offline_flag(network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set" in failed_load(cache_dir=network)


def test_no_network(network, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    message = failed_load(cache_dir=network)
    assert "could not be resolved" in message and "https://huggingface.co" in message


def test_dead_endpoint_closed_port(network, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    assert "connection was refused" in failed_load(cache_dir=network)


def test_listener_that_accepts_and_stalls(network, monkeypatch):
    with stalling_listener() as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        assert f"did not answer within {hub.PROBE_SECONDS:g} s" in failed_load(cache_dir=network)


def test_endpoint_that_returns_errors(network, monkeypatch):
    with http_endpoint(503, b"Service Unavailable") as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        assert "HTTP 503" in failed_load(cache_dir=network)


def test_captive_portal_is_not_a_hub(network, monkeypatch):
    with http_endpoint(200, b"<html>Please log in to the hotel wifi</html>") as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        assert "not like a Hugging Face Hub" in failed_load(cache_dir=network)


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertForSequenceClassification(bert_config(get_profile("smoke"), num_labels=2)).save_pretrained(folder)
    load_course_tokenizer().save_pretrained(folder)
    return folder


@pytest.mark.parametrize("attempt", ["first mirror", "another mirror later in the same session"])
def test_a_working_mirror_works_even_when_set_after_import(network, monkeypatch, tiny_repo, attempt):
    with mirror({"course-tests/tiny-bert": tiny_repo}) as (url, log):
        monkeypatch.setenv("HF_ENDPOINT", url)  # huggingface_hub read HF_ENDPOINT long before this line
        start = time.perf_counter()
        model = load_pretrained(BertForSequenceClassification, "course-tests/tiny-bert", cache_dir=str(network))
        tokenizer = load_tokenizer("course-tests/tiny-bert", cache_dir=str(network))
        assert time.perf_counter() - start < LIMIT  # no request went to an endpoint of an earlier test
        assert hub_reachable() is False  # the canary model is not on this mirror ...
        assert probe("course-tests/tiny-bert").ok  # ... but the one asked for is
    assert model.config.num_labels == 2 and len(tokenizer) == len(load_course_tokenizer())
    assert any("model.safetensors" in line for line in log)


def test_a_mirror_without_the_model_fails_fast(network, monkeypatch, tiny_repo):
    with mirror({"course-tests/tiny-bert": tiny_repo}) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        assert "has no" in failed_load("course-tests/other-bert", cache_dir=network)


def test_a_download_that_fails_after_a_good_probe_is_explained(network, monkeypatch, tiny_repo, tmp_path):
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    (config_only / "config.json").write_bytes((tiny_repo / "config.json").read_bytes())
    with mirror({"course-tests/config-only": config_only}) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        assert probe("course-tests/config-only").ok
        assert "the download failed" in failed_load("course-tests/config-only", cache_dir=network / "cache")


def test_proxies_are_respected(network, monkeypatch, tiny_repo):
    with mirror({"course-tests/tiny-bert": tiny_repo}) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        dead_proxy = f"http://127.0.0.1:{closed_port()}"
        monkeypatch.setenv("HTTP_PROXY", dead_proxy)
        monkeypatch.setenv("HTTPS_PROXY", dead_proxy)
        message = failed_load("course-tests/tiny-bert", cache_dir=network)
        assert dead_proxy in message  # the message shows the proxy in force
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the mirror is local: go around the proxy
        load_pretrained(BertForSequenceClassification, "course-tests/tiny-bert", cache_dir=str(network))


def test_gpt_names_point_to_course_gpt_and_tokenizers_fail_fast_too(network, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    message = failed_load("course-tests/not-a-cached-gpt2", GPT2LMHeadModel, cache_dir=network)
    assert "set the lesson's model variable to 'course-gpt'" in message
    start = time.perf_counter()
    with pytest.raises(HubModelUnavailable, match="'course-bert'"):
        load_tokenizer(NOT_CACHED, cache_dir=str(network))
    assert time.perf_counter() - start < LIMIT


def test_probe_and_summary_follow_hf_endpoint(network, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}/")
    start = time.perf_counter()
    assert hub_reachable(timeout=1.0) is False
    summary = environment_summary(check_network=True)["network"]
    assert time.perf_counter() - start < 4
    assert summary.startswith("offline (http://127.0.0.1:") and "refused" in summary


def test_probe_deadline_holds_whatever_the_request_does(network, monkeypatch):
    def hangs(url, timeout):
        time.sleep(30)

    monkeypatch.setattr(hub, "_request", hangs)
    start = time.perf_counter()
    result = probe(timeout=0.5)
    assert not result.ok and "did not answer within 0.5 s" in result.reason
    assert time.perf_counter() - start < 2
