"""Gather DVC experiments into one table (CSV) and, for a sweep, a rate-distortion plot.

    python -m shapes_vae.gather 'beta-*' --out sweeps/beta.csv --plot sweeps/beta.png
    python -m shapes_vae.gather 'seed-*' --out sweeps/seeds.csv
    python -m shapes_vae.gather 'sigma-*' beta-10 --out sweeps/sigma.csv --plot sweeps/sigma.png

It reads `dvc exp show --json` (the experiments of HEAD, of the commit given with --rev when the
sweep was queued before later commits, or of every commit with --all-commits)
and keeps the finished experiments whose name matches the pattern: run here, by the queue, or
pulled from another machine with `dvc exp pull`. Queued, running and failed ones are listed on
stderr and left out. Each row holds the experiment's name, its baseline commit, the params that
differ between the rows, and every variant's columns of VARIANT_COLUMNS. Nothing is typed by hand: the `report` stage
reads the CSV files this writes.
"""
import fnmatch
import json
import subprocess
import sys

import pandas as pd

from shapes_vae.errors import ArgumentParser, PipelineError, run_stage
from shapes_vae.io import write_bytes
from shapes_vae.spread import point_spread, repeats_a_point

# per variant: column suffix -> (metrics file with {v} for the variant, key path inside it)
VARIANT_COLUMNS = {
    "test_bce": ("metrics/{v}.json", "test_bce"),
    "rate_bits": ("metrics/information/{v}.json", "rate_bits_upper_bound"),
    "mi_bits": ("metrics/information/{v}.json", "mi_bits_estimate"),
    "recon_nats": ("metrics/{v}.json", "recon_nats"),
    "kl_nats": ("metrics/{v}.json", "kl_nats"),
    "active_units": ("metrics/{v}.json", "active_units"),
    "prior_confident_share": ("metrics/{v}.json", "prior_confident_share"),
    "prior_class_kl_from_uniform_bits": ("metrics/{v}.json", "prior_class_kl_from_uniform_bits"),
    "mig_mean": ("metrics/factors/{v}.json", "mig_mean"),
    "mig_channel_mean": ("metrics/factors/{v}.json", "mig_channel_mean"),
    "probe_accuracy_class": ("metrics/factors/{v}.json", "probe_accuracy_class"),
}


def variants(params):
    """The variant names in an experiment's flat params, in params.yaml order."""
    return list(dict.fromkeys(k.split(".")[1] for k in params if k.startswith("models.") and k.count(".") >= 2))


def columns(params):
    """{column: (metrics file, key path)} of one experiment: every variant's columns, then
    bits_total, the paper's bits of the variant params `report.paper_modified` names."""
    out = {f"{v}_{suffix}": (f.format(v=v), key) for v in variants(params) for suffix, (f, key) in VARIANT_COLUMNS.items()}
    modified = params.get("report.paper_modified", "modified")
    out["bits_total"] = (f"metrics/information/{modified}.json", "paper_bits_estimate")
    return out


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _lookup(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def finished_experiments(exp_show, patterns=(), names=None):
    """(rows, skipped) from parsed `dvc exp show --json` output.

    rows: one dict per finished experiment whose name matches one of the globs `patterns` (a
    string or a list) or, when `names` is given, is one of those names:
    {"name", "rev", "baseline", "params": flat {key path: value} of params.yaml, "metrics":
    {metrics file: dict}}. skipped: (name, state) of matching experiments not finished."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    rows, skipped = [], []
    for commit in exp_show:
        for exp in commit.get("experiments") or []:
            rev = exp["revs"][0]
            name = rev.get("name") or exp.get("name") or rev["rev"][:7]
            if not (name in names if names is not None else any(fnmatch.fnmatchcase(name, p) for p in patterns)):
                continue
            state = (exp.get("executor") or {}).get("state", "success")
            if state != "success" or rev.get("error"):
                skipped.append((name, "failed" if rev.get("error") else state))
                continue
            data = rev["data"]
            params = _flatten((data.get("params") or {}).get("params.yaml", {}).get("data", {}))
            metrics = {f: (m or {}).get("data", {}) for f, m in (data.get("metrics") or {}).items()}
            rows.append({"name": name, "rev": rev["rev"], "baseline": commit["rev"], "params": params, "metrics": metrics})
    return rows, skipped


def _number(v):
    """Params from `dvc exp run -S` may come back as strings ("1e-05"): numbers where they parse."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _same(v):
    """A value's identity for comparison: 10, 10.0 and "1e1" are one number."""
    v = _number(v)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else json.dumps(v)


def varying_params(rows):
    """The param key paths whose values are not the same in every row, in params.yaml order."""
    keys = list(dict.fromkeys(k for r in rows for k in r["params"]))
    return [k for k in keys if len({_same(r["params"].get(k)) for r in rows}) > 1]


def table(rows, sort_by=None):
    """A DataFrame, one row per experiment: experiment, baseline (7 characters), the varying
    params, then the metrics columns of every variant found in the rows (empty where an
    experiment lacks one; left out where every experiment does); sorted by sort_by (a param key path) and then the name when given, else
    by the name."""
    params = varying_params(rows)
    where = {}
    for r in rows:
        where |= columns(r["params"])
    records = []
    for r in rows:
        own = columns(r["params"])  # each row's own files: report.paper_modified may differ between rows
        record = {"experiment": r["name"], "baseline": r["baseline"][:7]}
        record |= {p: _number(r["params"].get(p)) for p in params}
        record |= {c: _lookup(r["metrics"].get(f, {}), path) for c, (f, path) in ((c, own.get(c, w)) for c, w in where.items())}
        records.append(record)
    df = pd.DataFrame.from_records(records, columns=["experiment", "baseline", *params, *where])
    # a measure none of the experiments has (one added after they ran) gets no empty column
    df = df.drop(columns=[c for c in where if df[c].isna().all()])
    by = [sort_by, "experiment"] if sort_by else ["experiment"]
    return df.sort_values(by, kind="stable", ignore_index=True)


def to_csv(df):
    """The table as CSV text: floats to 6 significant digits (a number a param held as a string
    too), empty cells for missing values, integers as integers."""
    df = df.copy()
    for c in df.columns[df.dtypes == object]:  # mixed columns: pandas' float_format skips them
        df[c] = df[c].map(lambda v: f"{v:.6g}" if isinstance(v, float) else v)
    return df.to_csv(index=False, lineterminator="\n", float_format="%.6g")


def write_table(rows, out, plot=None, sort_by=None, title=""):
    """Write the table of `rows` (finished_experiments) to the CSV file `out` and, when `plot`
    names a PNG, the fine-tuned variant's rate against distortion, one point per configuration
    (mean ± sd of its repeats). sort_by: a param key path that varies between the rows (default:
    the first that defines a point, else the first seed). Returns the table."""
    varying = varying_params(rows)
    if sort_by and sort_by not in varying:
        raise PipelineError(f"gather: --sort-by {sort_by} is not a param that varies between these experiments "
                            f"(varying: {', '.join(varying) or 'none'})")
    # the params that define a sweep's points (a seed or the thread count only repeats one)
    point_params = [p for p in varying if not repeats_a_point(p)]
    sort_by = sort_by or next(iter(point_params),
                              next((p for p in varying if p.endswith(".seed")), varying[0] if varying else None))
    df = table(rows, sort_by)
    if plot:
        from shapes_vae.plotting import plot_rate_distortion

        modified = rows[0]["params"].get("report.paper_modified", "modified")
        # one point per configuration (per experiment when only seeds or runtime settings vary)
        keys = point_params or ["experiment"]
        label = sort_by if sort_by in keys else keys[0]
        spread = point_spread(df, keys, [f"{modified}_rate_bits", f"{modified}_recon_nats"])
        points = [{"rate_bits": p[f"{modified}_rate_bits"], "distortion_nats": p[f"{modified}_recon_nats"],
                   "rate_sd": p[f"{modified}_rate_bits_sd"], "distortion_sd": p[f"{modified}_recon_nats_sd"],
                   "runs": p["runs"], label.split(".")[-1]: p[label]}
                  for p in spread.to_dict("records")
                  if p[f"{modified}_rate_bits"] is not None and p[f"{modified}_recon_nats"] is not None]
        runs = {p["runs"] for p in points}
        what = "one point per experiment" if runs == {1} else f"mean ± sd over {'/'.join(map(str, sorted(runs)))} runs per point"
        plot_rate_distortion(points, plot, f"{modified} VAE, {what} ({title})", label.split(".")[-1])
    write_bytes(out, to_csv(df).encode())
    return df


def exp_show_json(all_commits=False, rev=None):
    cmd = [sys.executable, "-m", "dvc", "exp", "show", "--json"]
    cmd += ["--all-commits"] if all_commits else (["--rev", rev] if rev else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise PipelineError(f"dvc exp show failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(r.stdout)


def main(argv):
    ap = ArgumentParser(prog="python -m shapes_vae.gather", description=__doc__.splitlines()[0])
    ap.add_argument("patterns", nargs="+", metavar="pattern",
                    help="experiment names to gather, globs such as 'beta-*' (several: any of them)")
    ap.add_argument("--out", required=True, help="CSV file to write")
    ap.add_argument("--plot", help="also draw rate against distortion of the modified model into this PNG")
    ap.add_argument("--sort-by", help="param key path to sort the rows by (default: the first varying param "
                                      "that is not a seed or runtime setting, else the first seed)")
    ap.add_argument("--rev", help="experiments of this baseline commit instead of HEAD's")
    ap.add_argument("--all-commits", action="store_true", help="experiments of every commit, not only HEAD's")
    ap.add_argument("--min-rows", type=int, default=1, help="fail unless at least this many experiments are found")
    args = ap.parse_args(argv)
    rows, skipped = finished_experiments(exp_show_json(args.all_commits, args.rev), args.patterns)
    pattern = " ".join(args.patterns)
    for name, state in skipped:
        print(f"gather: left out {name} ({state})", file=sys.stderr)
    if len(rows) < args.min_rows:
        raise PipelineError(f"gather: {len(rows)} finished experiment(s) match {pattern!r}, "
                            f"need {args.min_rows} (see dvc exp show, dvc queue status; queued before a later commit? --rev)")
    names = [r["name"] for r in rows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PipelineError(f"gather: experiment name {dupes[0]} appears under several commits; "
                            f"drop --all-commits or remove the old one (dvc exp remove)")
    df = write_table(rows, args.out, args.plot, args.sort_by, pattern)
    print(f"gather: {len(df)} experiment(s) -> {args.out}" + (f", {args.plot}" if args.plot else ""))


if __name__ == "__main__":
    run_stage(main)
