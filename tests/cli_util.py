"""Shared CLI helper for the tests (tests/ is on sys.path under pytest's default import mode)."""

from simulator.cli import main


def run_cli(capsys, args):
    """`simulator ARGS` in-process: (exit code, stdout, stderr); argparse's SystemExit becomes its code."""
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
