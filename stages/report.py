"""DVC stage `report`: RESULTS.md, the results table, from the metrics files and training logs."""
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.errors import PipelineError, run_stage
from shapes_vae.io import read_json, write_bytes
from shapes_vae.report import results_markdown


def last_epoch(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found (run the training stage: dvc repro)") from None
    if not rows:
        raise PipelineError(f"{path}: no epochs logged")
    return {k: float(v) for k, v in rows[-1].items()}


def main(argv):
    metrics = {name: read_json(f"metrics/{name}.json") for name in ("standard", "modified")}
    info = read_json("metrics/information.json")
    last = {name: last_epoch(f"logs/{name}.csv") for name in ("standard", "modified")}
    write_bytes("RESULTS.md", results_markdown(metrics, info, last).encode())
    print("report: RESULTS.md")


if __name__ == "__main__":
    run_stage(main)
