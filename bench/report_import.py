"""What importing pandas adds to the `report` stage's run time.

    python bench/report_import.py [--runs 7] [--json-out bench/results/report-pandas.json]

Runs the report stage (python stages/report.py) on a copy of this checkout's committed results
in a temporary folder, `--runs` times, and in as many fresh processes times `import pandas` after
the modules the stage imports anyway (so only what pandas itself adds is counted). Prints the
medians; with --json-out, also writes them as a bench/results file. No test asserts them.
"""
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.results_file import timing_arguments  # noqa: E402 (after the path it needs)
NEEDED = ["metrics", "logs", "sweeps", "params.yaml", "README.md", "stages", "shapes_vae"]
# the stage's other imports first, then pandas alone: the seconds pandas adds
PANDAS_AFTER_THE_REST = ("import sys, time; sys.path.insert(0, '.'); "
                         "import shapes_vae.errors, shapes_vae.io, shapes_vae.params, shapes_vae.spread; "
                         "t = time.perf_counter(); import pandas; print(time.perf_counter() - t)")


def main():
    args = timing_arguments(__doc__).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in NEEDED:
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, Path(tmp) / name)
        stage, pandas = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "stages/report.py"], cwd=tmp, check=True, capture_output=True)
            stage.append(time.perf_counter() - t)
            out = subprocess.run([sys.executable, "-c", PANDAS_AFTER_THE_REST], cwd=tmp, check=True,
                                 capture_output=True, text=True).stdout
            pandas.append(float(out))
    stage_s, pandas_s = statistics.median(stage), statistics.median(pandas)
    print(f"report stage: {stage_s:.3f} s (median of {args.runs}); import pandas adds {pandas_s:.3f} s "
          f"({pandas_s / stage_s:.0%} of it)")
    if args.json_out:
        from bench.results_file import write_result

        write_result(args.json_out, "What pandas adds to the report stage (make bench-report)", [
            ("report stage, whole process (python stages/report.py)", round(stage_s, 3), "s"),
            ("import pandas within it, after the stage's other imports", round(pandas_s, 3), "s"),
            ("share of the stage's time", round(100 * pandas_s / stage_s, 1), "%"),
        ], f"Medians of {args.runs} runs each, on this checkout's committed results. {args.notes}".strip())


if __name__ == "__main__":
    main()
