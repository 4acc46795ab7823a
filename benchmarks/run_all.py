"""`make bench`: run every benchmark, print what each says, and write their result lines into the README's Speed
block (between the `<!-- bench:start -->` and `<!-- bench:end -->` markers) with the date and the machine, so the
README quotes what this command measured rather than typed figures.

    python benchmarks/run_all.py [--no-readme]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BENCHES = ["bench_search.py", "bench_sweep.py", "bench_serving.py", "bench_cluster.py", "bench_startup.py",
           "bench_lifecycle.py"]
# the lines of each benchmark's output that carry its result (the rest is progress and per-run detail)
KEEP = re.compile(r"^(evaluate:|`simulator plan`|local engine:|median .* \(target|capacity search|\s*(wall_s_median|"
                  r"events_per_s|sim_days_per_s)\b|simulator train|import simulator|bytecode:|lifecycle with)")
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-readme", action="store_true", help="only print; leave the README as it is")
    a = ap.parse_args()
    kept: list[str] = []
    for name in BENCHES:
        print(f"==== {name}", flush=True)
        out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name)], cwd=ROOT, text=True,
                             capture_output=True, check=False)
        sys.stdout.write(out.stdout)
        sys.stderr.write(out.stderr[-2000:] if out.returncode else "")
        if out.returncode:
            print(f"{name} failed (exit {out.returncode}); the README is left as it is", file=sys.stderr)
            return out.returncode
        kept += [f"{name[6:-3]:<8} {line.strip()}" for line in out.stdout.splitlines() if KEEP.match(line)]
    if a.no_readme:
        return 0
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    block = (f"{START}\n```\n# make bench, {dt.date.today().isoformat()}, {machine} (medians; a shared machine varies "
             f"by ~30% run to run)\n" + "\n".join(kept) + f"\n```\n{END}")
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"README has no {START} ... {END} block; not written", file=sys.stderr)
        return 1
    README.write_text(text[:text.index(START)] + block + text[text.index(END) + len(END):], encoding="utf-8")
    print(f"wrote {len(kept)} result lines into README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
