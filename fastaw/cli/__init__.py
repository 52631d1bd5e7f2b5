"""The `fastaw` command: subcommands register themselves from their own modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fastaw import __version__
from fastaw.cli import backup, chunks, exchange, gen, serve
from fastaw.config import ConfigError
from fastaw.errors import FastawError

COMMANDS = (serve, gen, exchange, backup, chunks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastaw",
        description="A fast drop-in replacement for the ActivityWatch server.",
    )
    parser.add_argument("--version", action="version", version=f"fastaw {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or sys.argv[1:])])
    try:
        result: int = args.run(args)
        return result
    except (ConfigError, FastawError) as exc:
        message = exc.message if isinstance(exc, FastawError) else str(exc)
        print(f"fastaw: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
