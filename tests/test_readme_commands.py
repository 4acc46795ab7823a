"""Every `simulator ...` command the README shows is one the CLI accepts, and the quick ones run with exit 0."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from simulator.cli import build_parser, main

README = Path(__file__).resolve().parent.parent / "README.md"
QUICK = {"train", "infer", "list", "kernel"}  # run here; the others are run by hand before a release (closing note)


def readme_commands() -> list[list[str]]:
    """The README's command lines: continuations joined, comments, optional [..] parts and alternatives after | off."""
    out = []
    for block in re.findall(r"```\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line.strip())
            if not line.startswith("simulator "):
                continue
            line = re.sub(r"\[[^\]]*\]", "", line)  # optional parts
            words = [w.split("|")[0] for w in shlex.split(line)[1:]]  # first of a|b|c
            out.append(words)
    return out


COMMANDS = readme_commands()


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 8 and {c[0] for c in COMMANDS} >= {"train", "plan", "infer", "serve", "capacity"}


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_readme_command_parses(argv):
    if any(w.split(".")[0].isupper() for w in argv):  # FILE..., GRID.yaml, SECONDS
        pytest.skip("a placeholder the reader fills in")
    build_parser().parse_args(argv)  # argparse exits 2 on an unknown flag or a bad value


@pytest.mark.parametrize("argv", [c for c in COMMANDS if c[0] in QUICK], ids=lambda c: " ".join(c[:2]))
def test_quick_readme_command_exits_zero(argv, capsys):
    assert main(argv) == 0, capsys.readouterr().err
