"""`fastaw gen`: generate a realistic, seeded desktop history (see `fastaw.datagen`).

Writes straight into the configured store (bulk, many events per transaction) or, with
``--url``, through the HTTP API of a running server (fastaw or a reference server).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from fastaw.cli.serve import add_config_flags, config_from_args


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "gen", help="generate a realistic multi-year history (benchmarks, demos)",
        description="Generate seeded, realistic desktop history: window, AFK, browser "
                    "(Chrome, Firefox) and editor events, as the real watchers write them.",
    )
    add_config_flags(parser)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--years", type=float, help="years of history (default 1)")
    size.add_argument("--events", type=int,
                      help="about this many window events in total (sets the years)")
    parser.add_argument("--events-per-year", type=int, default=1_000_000,
                        help="window events per year (default 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1),
                        help="the history ends at local midnight of this date "
                             "(default 2026-01-01)")
    parser.add_argument("--utc-offset", type=int, default=60, metavar="MINUTES",
                        help="the person's time zone, minutes east of UTC (default 60)")
    parser.add_argument("--hostname", default="laptop",
                        help="hostname in the bucket names (default laptop)")
    parser.add_argument("--no-browsers", action="store_true",
                        help="no aw-watcher-web-* buckets")
    parser.add_argument("--no-editor", action="store_true", help="no aw-watcher-vscode bucket")
    parser.add_argument("--url", help="post through this server's HTTP API instead of "
                                      "writing the store, e.g. http://127.0.0.1:5600")
    parser.add_argument("--batch", type=int,
                        help="events per transaction (store, default 50000) or per request "
                             "(HTTP, default 1000)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="generator processes (default 1; the output is the same)")
    parser.add_argument("--replace", action="store_true",
                        help="delete the generated buckets first if they exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fastaw.datagen import HttpSink, Sink, Spec, StoreSink, generate

    years = args.years
    if args.events is not None:
        years = args.events / args.events_per_year
    spec = Spec(seed=args.seed, years=1.0 if years is None else years,
                events_per_year=args.events_per_year, end=args.end,
                utc_offset_minutes=args.utc_offset, hostname=args.hostname,
                browsers=not args.no_browsers, editor=not args.no_editor)
    sink: Sink
    if args.url:
        sink = HttpSink(spec, args.url, replace=args.replace, **_batch(args))
        where = args.url
    else:
        config = config_from_args(args)
        sink = StoreSink(spec, Path(config.data_dir), map_size=config.map_size,
                         replace=args.replace, **_batch(args))
        where = config.data_dir
    print(f"generating {len(spec.days):,} days (seed {spec.seed}, host {spec.hostname}) "
          f"into {where}", file=sys.stderr)
    report = generate(spec, sink, jobs=args.jobs, progress=not args.quiet)
    print(report.summary(), file=sys.stderr)
    return 0


def _batch(args: argparse.Namespace) -> dict[str, int]:
    return {} if args.batch is None else {"batch": args.batch}
