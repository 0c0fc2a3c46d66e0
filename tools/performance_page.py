"""docs/performance.md, written from every bench/results/*.json (the files the benchmarks write:
bench/results_file.py describes them), so that no measured number is typed into the docs.

    python tools/performance_page.py bench/results docs/performance.md     (make performance-page)
"""
import json
import sys
from pathlib import Path

HEADER = """# Performance

Written by `make performance-page` from the files in `bench/results/`; do not edit by hand. Each
section is one measurement, with the machine and the date it ran on: speed depends on the CPU
model, its instruction set and its number of cores far more than on anything else, and a number
measured on a busy machine reads slower than the code is. Measure your own machine with the
commands below, then `make performance-page`:

| Command | Writes | What it measures |
|---|---|---|
| `make bench` | `bench/results/benchmark.json` | the training step against a plain eager PyTorch version, page faults, the evaluation stages, a no-op `dvc repro` (`bench/benchmark.py` says how; `make bench BENCH_ARGS=--full-repro` adds a full `dvc repro --force`) |
| `make bench-avx2` | `bench/results/benchmark-avx2.json` | the same with oneDNN, MKL and ATen capped at AVX2: the kernels of a machine without AVX-512 |
| `make bench-report` | `bench/results/report-pandas.json` | what importing pandas adds to the `report` stage |
| `make bench-live` | `bench/results/training-log-dvclive.json` | what dvclive adds to a training stage's start and to each epoch |

Where the training step's speed comes from is in `shapes_vae/fast_cpu.py`'s docstrings, and
`runtime.train_precision: bfloat16` is another configuration, faster only on a CPU with bfloat16
arithmetic ([usage.md](usage.md#backends-and-devices)). No test asserts any of these numbers.
"""


def _check(obj, name):
    """A clear one-line error for a results file that does not follow the schema."""
    try:
        assert isinstance(obj["title"], str) and isinstance(obj["date"], str)
        m = obj["machine"]
        assert isinstance(m["cpu"], str) and isinstance(m["isa"], str) and isinstance(m["cores"], int)
        for r in obj["rows"]:
            assert isinstance(r["measure"], str) and isinstance(r["value"], (int, float)) and isinstance(r["unit"], str)
    except (AssertionError, KeyError, TypeError):
        raise SystemExit(f"error: {name}: not a results file (needs title, date, machine {{cpu, isa, cores}}, "
                         "rows [{measure, value, unit}])") from None


def _value(v):
    return f"{v:,}" if isinstance(v, int) else f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"


def page(results_dir):
    """The page's text from every *.json in results_dir, in file-name order."""
    out = [HEADER]
    for path in sorted(Path(results_dir).glob("*.json")):
        obj = json.loads(path.read_text())
        _check(obj, path.name)
        m = obj["machine"]
        out += [f"## {obj['title']}", "",
                f"Measured {obj['date']} on {m['cpu']} ({m['isa']}, {m['cores']} cores); from `{path.as_posix()}`.", "",
                "| Measure | Value | Unit |", "|---|---|---|",
                *[f"| {r['measure']} | {_value(r['value'])} | {r['unit']} |" for r in obj["rows"]], ""]
        if obj.get("notes"):
            out += [obj["notes"], ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv):
    if len(argv) != 2:
        raise SystemExit("usage: python tools/performance_page.py RESULTS_DIR PAGE")
    Path(argv[1]).write_text(page(argv[0]))
    print(f"{argv[1]}: written from {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
