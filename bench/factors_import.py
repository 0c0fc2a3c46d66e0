"""What importing scikit-learn adds to the `factors` stage's start.

    python bench/factors_import.py [--runs 7] [--json-out bench/results/factors-sklearn.json]

Times, in fresh processes, the import of the scikit-learn parts shapes_vae.factors uses, after the
modules the stage imports anyway (numpy, torch, matplotlib), so only what scikit-learn itself adds
is counted. Prints the median; with --json-out, also writes it as a bench/results file. No test
asserts it.
"""
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.results_file import timing_arguments  # noqa: E402 (after the path it needs)
SKLEARN_AFTER_THE_REST = ("import time; import numpy, torch, matplotlib; t = time.perf_counter(); "
                          "import sklearn.linear_model, sklearn.metrics, sklearn.preprocessing; "
                          "print(time.perf_counter() - t)")


def main():
    args = timing_arguments(__doc__).parse_args()
    subprocess.run([sys.executable, "-c", SKLEARN_AFTER_THE_REST], check=True, capture_output=True)  # warm the file cache
    times = [float(subprocess.run([sys.executable, "-c", SKLEARN_AFTER_THE_REST], check=True, capture_output=True,
                                  text=True).stdout) for _ in range(args.runs)]
    seconds = statistics.median(times)
    print(f"import scikit-learn in the factors stage: {seconds:.3f} s (median of {args.runs})")
    if args.json_out:
        from bench.results_file import write_result

        write_result(args.json_out, "What scikit-learn adds to the factors stage (make bench-factors)", [
            ("import of scikit-learn's linear models, metrics and scaler, after the stage's other imports",
             round(seconds, 3), "s")], f"Median of {args.runs} fresh processes. {args.notes}".strip())


if __name__ == "__main__":
    main()
