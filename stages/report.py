"""DVC stage `report`: RESULTS.md, the results page, from the metrics files, the training logs
and the gathered experiment tables sweeps/seeds.csv, sweeps/beta.csv and sweeps/sigma.csv."""
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.errors import PipelineError, run_stage
from shapes_vae.io import read_json, write_bytes
from shapes_vae.params import load_params
from shapes_vae.report import results_markdown


def csv_rows(path, how_to_make_it):
    """The rows of a CSV file as dicts of strings; a missing file names the command that writes it."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found ({how_to_make_it})") from None


def last_epoch(path):
    rows = csv_rows(path, "run the training stage: dvc repro")
    if not rows:
        raise PipelineError(f"{path}: no epochs logged")
    return {k: float(v) for k, v in rows[-1].items()}


def gathered(path):
    """Rows of an experiment table written by shapes_vae.gather."""
    rows = csv_rows(path, "gather the experiments: python -m shapes_vae.gather")
    for k in ("experiment", "standard_test_bce", "modified_test_bce", "bits_total"):
        if rows and k not in rows[0]:
            raise PipelineError(f"{path}: no '{k}' column (write it with python -m shapes_vae.gather)")
    return rows


def main(argv):
    metrics = {name: read_json(f"metrics/{name}.json") for name in ("standard", "modified")}
    info = read_json("metrics/information.json")
    classifier = read_json("metrics/classifier.json")
    last = {name: last_epoch(f"logs/{name}.csv") for name in ("standard", "modified")}
    seeds, sweep, sigma = (gathered(f"sweeps/{name}.csv") for name in ("seeds", "beta", "sigma"))
    models = load_params(["models"])["models"]
    training_seeds = {name: models[name]["seed"] for name in ("standard", "modified")}
    write_bytes("RESULTS.md", results_markdown(metrics, info, last, classifier, seeds, sweep, sigma, training_seeds).encode())
    print("report: RESULTS.md")


if __name__ == "__main__":
    run_stage(main)
