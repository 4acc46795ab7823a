"""Shape of the package: modules, lines, function lengths, the largest units (`python benchmarks/code_shape.py`).

Prints the figures the packages issue tracks: modules over ~500 lines and functions over ~60 lines.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def function_lengths(path: Path) -> list[tuple[int, str]]:
    """(lines, qualified name) of every function and method in a module, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append((child.end_lineno - child.lineno + 1, f"{prefix}{child.name}"))  # type: ignore[operator]
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
    visit(tree, "")
    return out


def main(package: str = "simulator") -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    lines = {f: len(f.read_text(encoding="utf-8").splitlines()) for f in files}
    funcs = [(n, f"{f.relative_to(ROOT)}:{name}") for f in files for n, name in function_lengths(f)]
    sizes = [n for n, _ in funcs]
    print(f"modules: {len(files)}  lines: {sum(lines.values()):,}  packages: "
          f"{len({f.parent for f in files})}")
    print(f"modules over 500 lines: {sum(v > 500 for v in lines.values())}  largest: "
          + ", ".join(f"{f.relative_to(ROOT)} {v}" for f, v in sorted(lines.items(), key=lambda x: -x[1])[:3]))
    print(f"functions: {len(funcs)}  median {statistics.median(sizes):.0f} lines  p90 "
          f"{sorted(sizes)[int(0.9 * len(sizes))]}  over 60 lines: {sum(n > 60 for n in sizes)}")
    print("largest functions: " + ", ".join(f"{name} {n}" for n, name in sorted(funcs, reverse=True)[:5]))


if __name__ == "__main__":
    main(*sys.argv[1:])
