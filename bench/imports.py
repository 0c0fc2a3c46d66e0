"""What the field's libraries add to a stage's start: the import of scikit-learn's parts in the
`factors` stage and of pandas in the stages that build tables, each timed in fresh processes after
the imports the stage makes anyway.

    python bench/imports.py            # prints the JSON and writes bench/results/imports.json
    python bench/imports.py --runs 9
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (what is measured, imports already made by the stage, the imports measured)
CASES = [
    ("scikit-learn in the factors stage", "import numpy, torch, matplotlib",
     "import sklearn.linear_model, sklearn.metrics, sklearn.preprocessing"),
    ("pandas in the table-building stages", "import numpy, yaml", "import pandas"),
]
PROBE = """import time
{before}
start = time.perf_counter()
{measured}
print(time.perf_counter() - start)"""


def machine():
    """CPU model, instruction set and core count, as /proc/cpuinfo reports them."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "other"
    return {"cpu": model, "isa": isa, "cores": os.cpu_count()}


def seconds(before, measured):
    out = subprocess.run([sys.executable, "-c", PROBE.format(before=before, measured=measured)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per case (the median counts)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/imports.json")
    args = ap.parse_args()
    for _, before, measured in CASES:  # warm the file cache once, so every timed run reads the same way
        seconds(before, measured)
    rows = [{"measure": what, "value": round(statistics.median(seconds(b, m) for _ in range(args.runs)), 3), "unit": "s"}
            for what, b, m in CASES]
    result = {"title": "Import cost of the table and estimator libraries", "date": datetime.date.today().isoformat(),
              "machine": machine(), "rows": rows,
              "notes": f"Median of {args.runs} fresh processes each, after the imports the stage makes anyway."}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
