"""``python -m benchmarks [--quick] [--only SECTION ...] [--json FILE]``: the performance suite.

Prints one Markdown table per section (medians), headed by the CPU and Python version, so the
output can be pasted into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.common import Table, environment, load_average
from benchmarks.suite import SECTIONS, Settings, run_all


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: small maps, few samples (seconds, not minutes)",
    )
    ap.add_argument(
        "--only",
        nargs="+",
        choices=sorted(SECTIONS),
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )
    ap.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    args = ap.parse_args(argv)

    env = environment()
    print(
        f"CPU: {env['cpu']} ({env['cores']} cores) | Python: {env['python']} | "
        f"{env['platform']} | load avg {env['load']} | mode: {'quick' if args.quick else 'full'}"
    )
    print()
    t0 = time.perf_counter()

    def emit(tab: Table) -> None:
        print(tab.render())
        print()
        sys.stdout.flush()

    tables = run_all(Settings(quick=args.quick), args.only, emit)
    print(f"total time {time.perf_counter() - t0:.1f} s, load avg at the end {load_average()}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "environment": env,
                    "quick": args.quick,
                    "tables": {
                        tab.title: {
                            "headers": tab.headers,
                            "rows": tab.rows,
                            "notes": tab.notes,
                            "data": tab.data,
                        }
                        for tab in tables
                    },
                },
                f,
                indent=1,
                default=str,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
