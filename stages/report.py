"""DVC stage `report`: RESULTS.md, the results page, from every variant's metrics files and
training log, and the gathered experiment tables sweeps/seeds.csv, sweeps/beta.csv and sweeps/sigma.csv."""
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


def gathered(path, roles):
    """Rows of an experiment table written by shapes_vae.gather."""
    rows = csv_rows(path, "gather the experiments: python -m shapes_vae.gather")
    for k in ("experiment", f"{roles['paper_modified']}_test_bce", "bits_total"):
        if rows and k not in rows[0]:
            raise PipelineError(f"{path}: no '{k}' column (write it with python -m shapes_vae.gather)")
    return rows


PARAMS = ["models", "report"]  # exactly what dvc.yaml declares for this stage


def main(argv):
    p = load_params(PARAMS)
    names, roles = list(p["models"]), p["report"]
    metrics = {n: read_json(f"metrics/{n}.json") for n in names}
    info = {n: read_json(f"metrics/information/{n}.json") for n in names}
    factors = {n: read_json(f"metrics/factors/{n}.json") for n in names}
    classifier = read_json("metrics/classifier.json")
    last = {n: last_epoch(f"logs/{n}.csv") for n in names}
    seeds, sweep, sigma = (gathered(f"sweeps/{name}.csv", roles) for name in ("seeds", "beta", "sigma"))
    training_seeds = {n: p["models"][n]["seed"] for n in names}
    page = results_markdown(names, metrics, info, factors, last, classifier, seeds, sweep, sigma, training_seeds, roles,
                            p["models"][roles["paper_modified"]]["beta"])
    write_bytes("RESULTS.md", page.encode())
    print("report: RESULTS.md")


if __name__ == "__main__":
    run_stage(main)
