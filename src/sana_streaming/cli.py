"""Command line: ``sana-streaming COMMAND``. Parses, configures and calls; no tensor math here."""

from __future__ import annotations

import argparse
import sys

from sana_streaming.commands import data, edit, speed, tools
from sana_streaming.models.checkpoint import CheckpointError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sana-streaming", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for area in (edit, tools, speed, data):  # the order of `sana-streaming --help`
        area.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CheckpointError, ValueError, FileNotFoundError, PermissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
