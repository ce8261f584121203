"""How much a training loop pays for ``run.log()``.

Two modes:

* default (in-process, ``_single.py``): 100,000 steps x 10 scalars through labbook.
* ``--compare`` (``_compare.py``): 20,000 steps x 10 scalars, one finished run, through labbook,
  trackio and wandb (offline), each as its own process, alternating, ``--reps`` times; prints
  ``import`` + ``init()`` time, time inside ``log()``, whole-process CPU (children included) and
  the ratios to labbook. ``--seed-run`` compares a seed-sized run instead (10 epochs x 4
  metrics), where start-up is most of the cost.

Examples::

    python bench/log_overhead.py
    python bench/log_overhead.py --compare
    python bench/log_overhead.py --seed-run --reps 9
    python bench/log_overhead.py --compare --tools trackio,wandb --compare-python /venv/bin/python
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SINGLE_STEPS = 100_000
COMPARE_STEPS = 20_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--compare", action="store_true", help="compare labbook with trackio and wandb"
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions per tool (compare)")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"rows to log (default {SINGLE_STEPS:,}; {COMPARE_STEPS:,} with --compare)",
    )
    parser.add_argument("--keys", type=int, default=None, help="scalars per row (default 10)")
    parser.add_argument(
        "--seed-run",
        action="store_true",
        help="compare a seed-sized run: 10 epochs x 4 metrics (start-up cost dominates)",
    )
    parser.add_argument(
        "--tools",
        default="labbook,trackio,wandb",
        help="comma-separated tools to compare (default: labbook,trackio,wandb; "
        "'baseline' adds a no-op log() to show the fixed cost, 'stack' the same plus the "
        "imports of labbook's required libraries: the floor of labbook's process CPU)",
    )
    parser.add_argument(
        "--labbook-python",
        default=sys.executable,
        help="interpreter that runs the labbook worker (default: this one)",
    )
    parser.add_argument(
        "--compare-python",
        default=sys.executable,
        help="interpreter that runs the trackio and wandb workers (default: this one)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the workers' data folders")
    parser.add_argument(
        "--cold", action="store_true", help="compare first runs (fresh stores) instead of warm ones"
    )
    parser.add_argument("--json", dest="json_out", help="also write raw results to this file")
    args = parser.parse_args(argv)
    if args.seed_run:
        args.compare = True
        args.steps = args.steps or 10
        args.keys = args.keys or 4
    args.keys = args.keys or 10

    if args.compare:
        import _compare

        tools = tuple(t.strip() for t in args.tools.split(",") if t.strip())
        _compare.compare(
            reps=args.reps,
            steps=args.steps or COMPARE_STEPS,
            keys=args.keys,
            labbook_python=args.labbook_python,
            compare_python=args.compare_python,
            tools=tools,
            keep=args.keep,
            json_out=args.json_out,
            warm=not args.cold,
        )
        return 0

    import _single

    _single.single(steps=args.steps or SINGLE_STEPS, keys=args.keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
