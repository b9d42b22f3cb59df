"""The Hugging Face Hub, reached quickly or not at all: endpoint, proxies, a bounded probe, a clear failure.

Why this exists: ``from_pretrained("bert-base-chinese")`` on a machine whose network half-works (a host that
accepts connections but never answers, a dead proxy, a captive portal, a mirror that returns errors) spends
close to a minute in ``huggingface_hub``'s retries (a 60 s second try is built in) and ends with a raw
``OSError``. The course instead:

* asks the endpoint that ``huggingface_hub`` would use (``HF_ENDPOINT``, e.g. a mirror such as
  ``https://hf-mirror.com``; set it before or after importing transformers, :func:`sync_endpoint` applies it)
  for the file it would fetch first (``config.json``), through the same proxies (``HTTPS_PROXY``,
  ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), with one request and a hard deadline (:func:`probe`);
* loads from the Hub only when that answer came from a real Hub (the ``X-Repo-Commit`` header), and otherwise
  falls back to the local cache or raises :class:`HubModelUnavailable` within seconds, with a message that
  names the course checkpoints (``course-bert`` / ``course-gpt``) and the variables that matter
  (``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, the proxy variables).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_SECONDS = 4.0  # one probe, connection and answer included; a failed load stays well under 10 s
CANARY_REPO = "google-bert/bert-base-chinese"  # asked for by hub_reachable() when no model is named
_OFFLINE_VALUES = {"1", "true", "yes", "on"}
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                    "NO_PROXY", "no_proxy")
_STAND_INS = {"bert": "course-bert", "gpt": "course-gpt"}


class HubModelUnavailable(RuntimeError):
    """A Hub model was asked for, but the Hub cannot be used here and the model is not in the local cache."""


def offline_by_setting() -> bool:
    """True when the user asked for offline mode (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(var, "").strip().lower() in _OFFLINE_VALUES
               for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def endpoint() -> str:
    """The Hub endpoint in force: ``HF_ENDPOINT`` if set, else https://huggingface.co (no trailing slash)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).strip().rstrip("/")


def sync_endpoint() -> str:
    """Make ``huggingface_hub`` use :func:`endpoint` even if ``HF_ENDPOINT`` changed after it was imported.

    ``huggingface_hub`` reads ``HF_ENDPOINT`` once, at import; a notebook that sets it in a cell would
    otherwise still download from huggingface.co. Returns the endpoint.
    """
    import sys

    from huggingface_hub import constants, hf_api

    wanted = endpoint()
    if constants.ENDPOINT != wanted:
        constants.ENDPOINT = wanted
        constants.HUGGINGFACE_CO_URL_TEMPLATE = wanted + "/{repo_id}/resolve/{revision}/{filename}"
    # Shared HfApi clients keep the endpoint they were made with: huggingface_hub's module-level one, and the
    # one transformers makes on first use (its tokenizers list chat templates through it). Point them too.
    transformers_hub = sys.modules.get("transformers.utils.hub")
    for client in (getattr(hf_api, "api", None), getattr(transformers_hub, "_hf_api", None)):
        if client is not None and getattr(client, "endpoint", wanted) != wanted:
            client.endpoint = wanted
    return wanted


_last_proxy_settings: tuple | None = None


def proxy_settings() -> dict[str, str]:
    """The proxy variables that are set, by name."""
    return {name: os.environ[name] for name in _PROXY_VARIABLES if os.environ.get(name)}


def sync_proxies() -> None:
    """Let ``huggingface_hub`` pick up proxy variables changed since its HTTP client was made.

    Its client reads the proxy variables when it is created and is then reused; closing it makes the next
    request build a new one from the current environment.
    """
    global _last_proxy_settings
    current = tuple(sorted(proxy_settings().items()))
    if current != _last_proxy_settings:  # also on the first call: the client may predate the variables
        from huggingface_hub import close_session

        close_session()
    _last_proxy_settings = current


@dataclass(frozen=True)
class ProbeResult:
    """What one request to the Hub endpoint found. ``ok`` only for an answer from a real Hub (or mirror)."""

    ok: bool
    endpoint: str
    url: str
    reason: str  # empty when ok; otherwise what went wrong, in words
    status: int | None = None  # the HTTP status, when an answer came


def _file_url(repo_id: str, filename: str, revision: str = "main") -> str:
    return f"{endpoint()}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def _request(url: str, timeout: float) -> tuple[int, dict[str, str]]:
    """One HEAD request through the proxies of the environment, following redirects; (status, headers)."""
    import httpx2

    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers()  # the user's token, if any: a gated model answers 401 without it
    headers["Accept-Encoding"] = "identity"
    with httpx2.Client(trust_env=True, follow_redirects=True, timeout=timeout, max_redirects=5) as client:
        response = client.head(url, headers=headers)
        return response.status_code, {key.lower(): value for key, value in response.headers.items()}


def _describe_error(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    name = type(error).__name__
    lowered = f"{name} {text}".lower()
    if "proxy" in lowered:
        return f"the proxy refused or failed ({name}: {text})"
    if "refused" in lowered:
        return f"the connection was refused ({name}: {text})"
    if any(word in lowered for word in ("name or service", "nodename", "getaddrinfo", "resolution", "resolve",
                                        "no address", "temporary failure")):
        return f"the host name could not be resolved: no network or no DNS ({name}: {text})"
    if "timeout" in lowered or "timed out" in lowered:
        return f"no answer in time ({name}: {text})"
    return f"the request failed ({name}: {text})"


def probe(repo_id: str = CANARY_REPO, filename: str = "config.json", timeout: float = PROBE_SECONDS) -> ProbeResult:
    """Ask the endpoint for ``repo_id``'s ``filename`` once (HEAD), and give up after ``timeout`` seconds in total.

    The deadline holds whatever the network does (a listener that accepts and never answers, a server that
    trickles bytes): the request runs in a daemon thread that is abandoned at the deadline. ``ok`` requires a
    2xx answer carrying ``X-Repo-Commit``, which Hub endpoints and mirrors send and captive portals do not.
    """
    url = _file_url(repo_id, filename)
    where = endpoint()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["answer"] = _request(url, timeout)
        except BaseException as error:  # noqa: BLE001 - reported to the caller in words
            outcome["error"] = error

    worker = threading.Thread(target=run, name="hub-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or not outcome:
        return ProbeResult(False, where, url, f"{where} did not answer within {timeout:g} s")
    if "error" in outcome:
        return ProbeResult(False, where, url, f"{where} could not be reached: {_describe_error(outcome['error'])}")
    status, headers = outcome["answer"]
    if status == 404:
        return ProbeResult(False, where, url, f"{where} has no {repo_id!r} (HTTP 404 for {filename})", status)
    if status in (401, 403):
        return ProbeResult(False, where, url, f"{where} refused access to {repo_id!r} (HTTP {status}: a gated or "
                                              "private model needs a token)", status)
    if status >= 400:
        return ProbeResult(False, where, url, f"{where} answered HTTP {status} for {filename} of {repo_id!r}", status)
    if "x-repo-commit" not in headers:
        return ProbeResult(False, where, url, f"{where} answered (HTTP {status}), but not like a Hugging Face Hub "
                                              "(no X-Repo-Commit header): a captive portal, a proxy's login page, "
                                              "or an HF_ENDPOINT that is not a Hub mirror", status)
    return ProbeResult(True, where, url, "", status)


def stand_in_for(name: str) -> str:
    """The course checkpoint that replaces a Hub model: course-gpt for GPT models, course-bert otherwise."""
    return _STAND_INS["gpt"] if "gpt" in name.lower() else _STAND_INS["bert"]


def unavailable_message(name: str, reason: str, folder: str | None = None) -> str:
    """Why ``name`` cannot be loaded, what to use instead, and which variables change it."""
    stand_in = stand_in_for(name)
    proxies = ", ".join(f"{key}={value}" for key, value in proxy_settings().items()) or "none set"
    where = f" (files in {folder})" if folder else ""
    return (
        f"Cannot load {name!r} from the Hugging Face Hub: {reason}; and it is not in the local cache. "
        f"Use the offline course checkpoint instead: set the lesson's model variable to {stand_in!r}{where} "
        "(the course ships 'course-bert' for BERT models and 'course-gpt' for GPT models). "
        f"To download Hub models: HF_HUB_OFFLINE must be unset (now: {os.environ.get('HF_HUB_OFFLINE') or 'unset'}); "
        f"HF_ENDPOINT chooses the Hub or a mirror such as https://hf-mirror.com (now: {endpoint()}); "
        f"HTTPS_PROXY / NO_PROXY choose the proxy (now: {proxies})."
    )


def load_from_hub(loader: Callable[..., Any], name: str, folder_hint: str | None = None,
                  timeout: float = PROBE_SECONDS, probe_file: str = "config.json", **kwargs) -> Any:
    """``loader(name, **kwargs)`` (a ``from_pretrained``) for a Hub name, failing fast with a clear message.

    ``probe_file`` is the file the probe asks for (``tokenizer_config.json`` for a tokenizer). Offline by
    setting, or when :func:`probe` finds the endpoint unusable, only the local cache is tried
    (``local_files_only=True``); if the model is not there, :class:`HubModelUnavailable` says why within
    seconds. When the probe succeeds, the download runs normally; an ``OSError`` from it (a file missing on a
    mirror, a connection dropped half-way) also becomes a :class:`HubModelUnavailable` with the same advice.
    """
    if offline_by_setting():
        reason = "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, so nothing is downloaded"
    else:
        sync_endpoint()
        sync_proxies()
        result = probe(name, probe_file, timeout)
        if result.ok:
            try:
                return loader(name, **kwargs)
            except OSError as error:
                raise HubModelUnavailable(unavailable_message(name, f"the download failed ({error})",
                                                              folder_hint)) from error
        reason = result.reason
    try:
        return loader(name, local_files_only=True, **kwargs)
    except OSError as error:
        raise HubModelUnavailable(unavailable_message(name, reason, folder_hint)) from error
