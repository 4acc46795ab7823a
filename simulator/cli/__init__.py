"""The `simulator` command: one module per command family (training, serving, cluster, calibrate, runs, catalog),
each adding its subcommands with `register(subparsers)`; every subcommand has --json. Errors a user can act on print
as one line on stderr with exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from simulator.cli import calibrate, catalog, cluster, lifecycle, runs, serving, training, validate
from simulator.cli.common import EXIT_USAGE, SimulatorParser
from simulator.errors import SimulatorError

COMMAND_FAMILIES = (training, serving, lifecycle, cluster, calibrate, runs, catalog, validate)  # the order of `simulator --help`


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-compute-planner")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "(not installed)"


class _VersionAction(argparse.Action):
    """--version, looked up only when asked for (package metadata costs ~15 ms of every start-up otherwise)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the program's version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = SimulatorParser(prog="simulator", description="Compute cost and capacity planner for large AI models.")
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=SimulatorParser)
    for family in COMMAND_FAMILIES:
        family.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_parser(build_parser(), argv)


def run_parser(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch to the subcommand and turn errors into one line on stderr (exit 2)."""
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SimulatorError as exc:
        sys.stderr.write(f"simulator: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("simulator: interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. `simulator list models | head`
        sys.stderr.close()
        return 0
