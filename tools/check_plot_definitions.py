"""Check what `dvc plots show --json` would draw: every chart plots against its file's axis (a
training log against the epoch, a variant's records of bits against the latent dimension, its
factor records against the factor), and no source file's curves are drawn twice (a stage's `plots:` entry is drawn on its own, so naming the
same file again in dvc.yaml's top-level `plots:` draws its curves a second time).

    dvc plots show --json | python tools/check_plot_definitions.py     # make plots-check runs this

Prints one line per problem and exits 1, or prints a summary and exits 0.
"""
import json
import sys
from collections import Counter

# the x axis of each kind of chart, by the folder of the file it draws
X_BY_FOLDER = {"logs/": "epoch", "figures/bits_per_dim/": "dimension", "figures/factors/": "factor"}


def _sources(plot_id, points):
    """The files a chart draws from: DVC tags each point with its file ("filename", or
    "filename::field" in a chart of several files and fields); a chart of one file is named after it."""
    files = {p["filename"] for p in points if "filename" in p}
    files |= {p["filename::field"].split("::")[0] for p in points if "filename::field" in p}
    return files or {plot_id}


def chart_problems(shown):
    """Problems in the parsed output of `dvc plots show --json` (its "data" mapping)."""
    problems, sources = [], Counter()
    for plot_id, renders in shown.get("data", {}).items():
        for render in renders:
            if render.get("type") != "vega":
                continue
            spec = render["content"]
            x = (spec.get("spec") or spec).get("encoding", {}).get("x", {}).get("field")
            expected = next((v for folder, v in X_BY_FOLDER.items() if plot_id.startswith(folder)), None)
            if x != expected:
                problems.append(f"{plot_id}: x is {x!r}, not {expected!r}" if expected else f"{plot_id}: not a chart this check knows")
            sources.update(_sources(plot_id, spec.get("data", {}).get("values", [])))
    problems += [f"{f}: its curves are drawn in {n} charts" for f, n in sorted(sources.items()) if n > 1]
    return problems


def main():
    problems = chart_problems(json.load(sys.stdin))
    for p in problems:
        print(f"plots-check: FAIL: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print("plots-check: every chart is drawn once, against its file's axis")


if __name__ == "__main__":
    main()
