"""DVC stage `report`: RESULTS.md, the results page, from every variant's metrics files, factor
records and training log, the evaluation's settings, and the gathered experiment tables sweeps/seeds.csv, sweeps/beta.csv and
sweeps/sigma.csv; and the headline table between the markers in README.md."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.errors import PipelineError, run_stage
from shapes_vae.io import read_json, staged_outputs, write_bytes
from shapes_vae.params import load_params
from shapes_vae.report import headline_markdown, results_markdown, splice_headline


def csv_table(path, how_to_make_it):
    """A CSV file as a DataFrame of strings (an empty cell is ""); a missing file names the
    command that writes it."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found ({how_to_make_it})") from None
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def last_epoch(path):
    log = csv_table(path, "run the training stage: dvc repro")
    if log.empty:
        raise PipelineError(f"{path}: no epochs logged")
    return {k: float(v) for k, v in log.iloc[-1].items()}


def gathered(path, roles):
    """An experiment table written by shapes_vae.gather."""
    table = csv_table(path, "gather the sweep: python -m shapes_vae.sweep gather sweeps/<name>.txt")
    for k in ("experiment", f"{roles['paper_modified']}_test_bce", "bits_total"):
        if not table.empty and k not in table.columns:
            raise PipelineError(f"{path}: no '{k}' column (write it with python -m shapes_vae.gather)")
    return table


# exactly what dvc.yaml declares for this stage: the page names the evaluation's settings
PARAMS = ["models", "report", "evaluate.iwae_k", "evaluate.prior_samples", "evaluate.confidence"]


def main(argv):
    p = load_params(PARAMS)
    names, roles = list(p["models"]), p["report"]
    metrics = {n: read_json(f"metrics/{n}.json") for n in names}
    info = {n: read_json(f"metrics/information/{n}.json") for n in names}
    factors = {n: read_json(f"metrics/factors/{n}.json") for n in names}
    # the factors in their order: the first variant's records, one per (dimension, factor)
    factor_names = list(dict.fromkeys(r["factor"] for r in read_json(f"figures/factors/{names[0]}.json")))
    classifier = read_json("metrics/classifier.json")
    last = {n: last_epoch(f"logs/{n}.csv") for n in names}
    seeds, sweep, sigma = (gathered(f"sweeps/{name}.csv", roles) for name in ("seeds", "beta", "sigma"))
    training_seeds = {n: p["models"][n]["seed"] for n in names}
    try:
        readme = Path("README.md").read_text()
    except FileNotFoundError:
        raise PipelineError("README.md: file not found (the report stage writes its headline table into it)") from None
    # checked before anything is written: a README without its markers changes neither file
    data = read_json("metrics/data.json")
    readme = splice_headline(readme, headline_markdown(metrics, info, roles, seeds, training_seeds, data))
    novelty = {n: read_json(f"metrics/novelty/{n}.json") for n in names}
    # the grouped-split experiment is optional: a fork that has not run it gets a line saying how
    grouped = gathered("sweeps/grouped.csv", roles) if Path("sweeps/grouped.csv").exists() else ()
    page = results_markdown(names, metrics, info, factors, last, classifier, seeds, sweep, sigma, training_seeds, roles,
                            data, p["evaluate"], factor_names, novelty, grouped)
    with staged_outputs("RESULTS.md", "README.md") as staged:  # both files, or neither
        write_bytes(staged("RESULTS.md"), page.encode())
        write_bytes(staged("README.md"), readme.encode())
    print("report: RESULTS.md, README.md's headline table")


if __name__ == "__main__":
    run_stage(main)
