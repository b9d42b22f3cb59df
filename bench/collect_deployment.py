"""Copy lesson 08's measured tables into ``bench/results/deployment.json`` (section ``lesson08_<profile>``).

The lesson writes what it measured (compression table, targets, load test, drift) to
``build/results/08_deployment_<profile>.json`` when it runs; this keeps the run that produced them, with its
hardware, load and date, next to the load-test benchmark:

    python scripts/run_lessons.py --profile cpu 08 && python bench/collect_deployment.py --profile cpu
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import save_section  # noqa: E402

from helpers.deployment import cache_root  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "gpu"))
    args = parser.parse_args(argv)
    source = cache_root().parent / "results" / f"08_deployment_{args.profile}.json"
    if not source.is_file():
        print(f"no {source}: run `python scripts/run_lessons.py --profile {args.profile} 08` first", file=sys.stderr)
        return 1
    save_section(f"lesson08_{args.profile}", json.loads(source.read_text(encoding="utf-8")))
    print(f"copied {source} into bench/results/deployment.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
