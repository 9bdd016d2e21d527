"""`make bench`: run every benchmark (or those named: `python -m bench crawl report`)."""

import importlib
import sys

BENCHMARKS = ["crawl", "sentiment", "report", "flow", "web", "budget", "fanout"]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        print(f"\n=== bench {name} ===", flush=True)
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
