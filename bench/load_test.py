"""Load test of the sentiment service over loopback: micro-batching vs batch-1 serving, same model, same load.

For each serving mode it starts ``python -m helpers.serve`` on a free 127.0.0.1 port (the profile's cached lesson-02
classifier, :func:`helpers.deployment.load_or_train_classifier`, trained first if missing), sends ``--requests``
requests from ``--clients`` concurrent clients (each waits for its answer before sending the next), ``--malformed``
of them malformed (empty text, non-string, too many texts, over-long text, invalid JSON, wrong field, oversized
body, wrong content type), and stops the server. Bounded: at most ``--time-limit`` seconds of sending per mode.

Reported per mode: requests sent / answered / lost, responses by status, malformed requests answered 4xx, any
unexpected answer, throughput, p50/p95/p99 latency of the good requests; and the micro-batching speed-up. Results
go to ``bench/results/deployment.json`` under ``"load_test"`` (other sections of that file are kept), with the
hardware, the load average before and after, the date and the command.

    python bench/load_test.py                                   # cpu profile, 16 clients, 600 requests per mode
    python bench/load_test.py --clients 32 --requests 2000 --int8
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from helpers.data import load_reviews
from helpers.deployment import load_or_train_classifier
from helpers.env import hardware
from helpers.loadtest import machine_load, run_load_test, running_server
from helpers.profiles import get_profile

RESULTS = Path(__file__).resolve().parent / "results" / "deployment.json"
MODES = {"micro-batching": None, "batch-1": 1}  # None: --max-batch from the command line


def save_section(name: str, value: dict, path: Path = RESULTS) -> None:
    """Write ``value`` under ``name`` in the JSON file, keeping its other sections."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    results[name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "gpu"), help="which cached classifier")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=600, help="requests per serving mode")
    parser.add_argument("--malformed", type=float, default=0.1, help="share of malformed requests")
    parser.add_argument("--max-batch", type=int, default=32, help="micro-batching: texts per batch")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="micro-batching: wait for more requests")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the server")
    parser.add_argument("--int8", action="store_true", help="serve the int8 dynamically quantized model")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds of sending per mode, at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-save", action="store_true", help="print only; leave deployment.json alone")
    args = parser.parse_args(argv)

    classifier = load_or_train_classifier(get_profile(args.profile))
    texts = list(load_reviews()["test"]["text"])
    result = {"hardware": hardware("cpu").rsplit(",", 1)[0] + f", server: {args.threads} torch thread(s)",
              "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
              "command": "python bench/load_test.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "model": classifier.folder.name + (" (int8)" if args.int8 else ""), "clients": args.clients,
              "requests_per_mode": args.requests, "malformed_share": args.malformed,
              "load_before": machine_load(), "modes": {}}
    for mode, max_batch in MODES.items():
        with running_server(classifier.folder, max_batch=max_batch or args.max_batch, max_wait_ms=args.max_wait_ms,
                            threads=args.threads, int8=args.int8) as url:
            report = run_load_test(url, texts, requests=args.requests, clients=args.clients,
                                   malformed_share=args.malformed, seed=args.seed, time_limit_s=args.time_limit)
        report.pop("latencies_ms")
        report["max_batch"], report["max_wait_ms"] = max_batch or args.max_batch, args.max_wait_ms
        result["modes"][mode] = report
        print(f"{mode:>15}: {report['good_throughput_rps']:7.1f} good requests/s, p50 {report['latency_ms']['p50']} ms, "
              f"p95 {report['latency_ms']['p95']} ms, p99 {report['latency_ms']['p99']} ms; by status "
              f"{report['by_status']}; lost {report['lost']}, 5xx {report['status_500_or_more']}, "
              f"unexpected {report['unexpected']}", flush=True)
    result["load_after"] = machine_load()
    batched, single = result["modes"]["micro-batching"], result["modes"]["batch-1"]
    result["speedup"] = round(batched["good_throughput_rps"] / single["good_throughput_rps"], 2)
    print(f"micro-batching / batch-1 throughput: {result['speedup']}x ({result['load_before']} -> {result['load_after']})")
    if not args.no_save:
        save_section("load_test", result)
        print(f"saved to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
