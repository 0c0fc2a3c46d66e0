"""What dvclive adds to a training stage: its import and set-up at the start, its write per epoch.

    python bench/live_start.py [--runs 7] [--json-out bench/results/training-log-dvclive.json]

In fresh processes run in this checkout (a DVC project, as a stage's is), times the import of
dvclive after the modules the train stage imports anyway (torch and the package), then
shapes_vae.training_log.TrainingLog's set-up (dvclive's Live opens the DVC project) into a
temporary folder, then 50 epochs' updates of the log. Prints the medians; with --json-out, also
writes them as a bench/results file. No test asserts them.
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.results_file import timing_arguments  # noqa: E402 (after the path it needs)
ONE_RUN = """
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, ".")
import torch, shapes_vae.train
t0 = time.perf_counter()
import dvclive
t1 = time.perf_counter()
from shapes_vae.training_log import TrainingLog
with tempfile.TemporaryDirectory() as tmp:
    log = TrainingLog(Path(tmp) / "log.csv", shapes_vae.train.LOG_COLUMNS, Path(tmp) / "metrics")
    t2 = time.perf_counter()
    rows = []
    for epoch in range(1, 51):
        rows.append([epoch] + [1.0 / epoch] * (len(shapes_vae.train.LOG_COLUMNS) - 1))
        log.update(rows)
    log.close()
    t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "setup": t2 - t1, "update": (t3 - t2) / 50}))
"""


def main():
    args = timing_arguments(__doc__).parse_args()
    subprocess.run([sys.executable, "-c", ONE_RUN], cwd=ROOT, check=True, capture_output=True)  # warm the file cache
    runs = [json.loads(subprocess.run([sys.executable, "-c", ONE_RUN], cwd=ROOT, check=True, capture_output=True,
                                      text=True).stdout) for _ in range(args.runs)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"dvclive in a training stage: import {med['import']:.3f} s, set-up {med['setup']:.3f} s, "
          f"{1000 * med['update']:.2f} ms per epoch (medians of {args.runs})")
    if args.json_out:
        from bench.results_file import write_result

        write_result(args.json_out, "What dvclive adds to a training stage (make bench-live)", [
            ("import dvclive, after the stage's other imports", round(med["import"], 3), "s"),
            ("the training log's set-up (dvclive opens the DVC project)", round(med["setup"], 3), "s"),
            ("writing the CSV log and dvclive's metrics after an epoch (50 epochs' logs)",
             round(1000 * med["update"], 2), "ms"),
        ], f"Medians of {args.runs} fresh processes. {args.notes}".strip())


if __name__ == "__main__":
    main()
