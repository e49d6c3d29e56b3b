"""The house's measurements (issue 22): the longest functions, train()'s length and closures, the
README's length.

    python bench/house.py            # the table of the 12 longest functions, and the rest
    python bench/house.py --top 30
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gan_core", "sweeps", "analysis")


def functions(root: Path = ROOT) -> list[tuple[int, str, int]]:
    """(lines, module:function, nested functions inside) of every function in the packages."""
    out = []
    for pkg in PACKAGES:
        for f in sorted((root / pkg).rglob("*.py")):
            tree = ast.parse(f.read_text())
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    nested = sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                                 for n in ast.walk(node)) - 1
                    name = f"{f.relative_to(root)}:{node.name}"
                    out.append((node.end_lineno - node.lineno + 1, name, nested))
    return sorted(out, reverse=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--top", type=int, default=12, help="how many of the longest functions")
    a = p.parse_args(argv)
    fs = functions()
    print("| function | lines | nested functions and lambdas |\n|---|---|---|")
    for lines, name, nested in fs[:a.top]:
        print(f"| {name} | {lines} | {nested} |")
    train = next(f for f in fs if f[1] == "gan_core/train.py:train")
    readme = (ROOT / "README.md").read_text()
    print(f"\ntrain(): {train[0]} lines, {train[2]} nested; functions over 80 lines: "
          f"{sum(1 for f in fs if f[0] > 80)} of {len(fs)}")
    print(f"README.md: {len(readme.splitlines())} lines, {len(readme.encode()) / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
