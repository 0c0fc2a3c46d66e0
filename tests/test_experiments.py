"""Gathering DVC experiments: the table logic on a known `dvc exp show --json` document, and the
documented multi-machine workflow for real -- a queued sweep on one clone, another experiment on a
second clone, both pushed with `dvc exp push` through a local git remote and a local DVC remote,
then pulled and gathered on a third."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import downstream, ran, scratch_and_tuned
from shapes_vae.gather import VARIANT_COLUMNS, columns, finished_experiments, table, to_csv, varying_params

PY = sys.executable


def exp(name, beta, state="success", error=None, bce=0.1, extra=None, paper_modified="modified", seed=1, rate=6.5, threads=0):
    """One experiment of `dvc exp show --json`: the variants standard and modified (and `extra`, a
    third variant, if given), with the per-variant metrics files of the modified one (and extra's)."""
    models = {"standard": {"init": "scratch", "beta": 1.0, "seed": seed}, "modified": {"init": "standard", "beta": beta, "seed": seed + 1}}
    metrics = {"metrics/modified.json": {"data": {"test_bce": bce, "recon_nats": 80.0}},
               "metrics/information/modified.json": {"data": {"rate_bits_upper_bound": rate, "paper_bits_estimate": 10.5}},
               "metrics/factors/modified.json": {"data": {"mig_mean": 0.25}}}
    if extra:
        models[extra] = {"init": "modified", "beta": 3.0, "seed": 7}
        metrics |= {f"metrics/{extra}.json": {"data": {"test_bce": 0.2, "recon_nats": 90.0}},
                    f"metrics/information/{extra}.json": {"data": {"rate_bits_upper_bound": 4.5, "paper_bits_estimate": 3.25}}}
    data = {"params": {"params.yaml": {"data": {"runtime": {"threads": threads}, "models": models, "evaluate": {"seed": 3},
                                                "report": {"paper_standard": "standard", "paper_modified": paper_modified}}}},
            "metrics": metrics}
    return {"revs": [{"rev": f"{name:0<40}", "name": name, "data": data, "error": error, "experiments": None}],
            "executor": {"state": state}, "name": name}


EXP_SHOW = [
    {"rev": "workspace", "name": None, "data": {}, "error": None, "experiments": None},
    {"rev": "abcdef1234567890", "name": "main", "data": {}, "error": None, "experiments": [
        exp("beta-10", 10, bce=0.10), exp("beta-2", 2.0, bce=0.06), exp("beta-1e-05", "1e-05", bce=0.05),
        exp("beta-5", 5.0, state="running"), exp("beta-7", 7.0, error={"msg": "failed"}), exp("seed-1", 10.0)]},
]


def test_gather_keeps_finished_matching_experiments_and_sorts_by_the_varying_param():
    rows, skipped = finished_experiments(EXP_SHOW, "beta-*")
    assert sorted(r["name"] for r in rows) == ["beta-10", "beta-1e-05", "beta-2"]
    assert sorted(skipped) == [("beta-5", "running"), ("beta-7", "failed")]
    assert varying_params(rows) == ["models.modified.beta"]  # and not evaluate.seed, the same in all
    same = [r | {"params": r["params"] | {"models.modified.beta": v}} for r, v in zip(rows, (10, 10.0, "1e1"))]
    assert varying_params(same) == []  # 10, 10.0 and "1e1" (as dvc exp run -S may write it) are one value
    df = table(rows, "models.modified.beta")
    header, body = list(df.columns), df.values.tolist()
    assert header[:3] == ["experiment", "baseline", "models.modified.beta"]
    # the variants' columns that some experiment measured, in params order, then the paper's bits
    measured = ("test_bce", "rate_bits", "recon_nats", "mig_mean")  # what exp() writes, for modified alone
    assert header[3:] == [f"modified_{c}" for c in VARIANT_COLUMNS if c in measured] + ["bits_total"]
    assert [r[0] for r in body] == ["beta-1e-05", "beta-2", "beta-10"]  # numeric order, "1e-05" read as a number
    col = dict(zip(header, body[-1]))
    assert col["baseline"] == "abcdef1" and col["modified_test_bce"] == 0.10 and col["bits_total"] == 10.5
    assert col["modified_rate_bits"] == 6.5 and col["modified_recon_nats"] == 80.0 and col["modified_mig_mean"] == 0.25
    assert "standard_test_bce" not in col  # no experiment measured it: no column, not an error
    lines = to_csv(df).splitlines()
    assert lines[1].startswith("beta-1e-05,abcdef1,1e-05,0.05,")


def test_gather_gives_a_third_variant_its_columns_and_takes_the_bits_from_the_paper_modified_variant():
    doc = [{"rev": "abcdef1234567890", "name": "main", "data": {}, "error": None, "experiments": [
        exp("a", 1.0, extra="wide"), exp("b", 2.0), exp("c", 3.0, extra="wide", paper_modified="wide")]}]
    rows, _ = finished_experiments(doc, "*")
    df = table(rows, "models.modified.beta")
    header, body = list(df.columns), df.values.tolist()
    assert [f"{v}_test_bce" for v in ("modified", "wide")] == [h for h in header if h.endswith("_test_bce")]
    cols = {r[0]: dict(zip(header, r)) for r in body}
    assert cols["a"]["wide_test_bce"] == 0.2 and cols["a"]["wide_rate_bits"] == 4.5 and cols["a"]["wide_recon_nats"] == 90.0
    assert pd.isna(cols["b"]["wide_test_bce"])  # no such variant in that experiment: an empty cell
    # bits_total is report.paper_modified's paper_bits_estimate, whichever variant that is
    assert cols["a"]["bits_total"] == 10.5 and cols["c"]["bits_total"] == 3.25
    assert columns(rows[2]["params"])["bits_total"] == ("metrics/information/wide.json", "paper_bits_estimate")
    assert "models.wide.beta" in header and "report.paper_modified" in header  # they vary between the rows


# --- the real thing, through local remotes -------------------------------------------------------

def sh(cwd, *cmd, check=True, timeout=600, env_extra=None):
    env = os.environ | {"PATH": f"{Path(PY).parent}:{os.environ['PATH']}"} | (env_extra or {})
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and r.returncode:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed in {cwd}:\n{r.stdout}\n{r.stderr}")
    return r


def dvc(cwd, *args, **kw):
    return sh(cwd, str(Path(PY).with_name("dvc")), *args, **kw)


def experiments_view():
    """The `dvc exp show` command of the README's shell blocks, as typed there."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    views = [line for line in readme.splitlines() if line.startswith("dvc exp show ")]
    assert len(views) == 1, views
    return views[0]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.system
def test_sweep_on_two_machines_pushed_pulled_and_gathered_on_a_third(tiny_copy, tmp_path):
    """Machine A queues one beta of the fine-tuned variant twice, as a sweep re-queues a point: the
    first run fine-tunes only that variant, the second trains nothing (DVC's run cache). Machine B runs a
    third beta written with an exponent, which `dvc exp run -S` rewrites as the YAML 1.2 `1e-05`
    that PyYAML (YAML 1.1) reads as a string: the stages must still take it as a number."""
    origin, storage = tmp_path / "origin.git", tmp_path / "dvc-storage"
    sh(tmp_path, "git", "init", "-q", "--bare", "-b", "main", str(origin))
    a = tiny_copy  # the baseline: the tiny pipeline run and its results committed
    # one-time set-up, as a project would commit it: the git remote and the default DVC remote
    sh(a, "git", "remote", "add", "origin", str(origin))
    dvc(a, "remote", "add", "-d", "storage", str(storage))
    sh(a, "git", "commit", "-qam", "the project's remotes")
    dvc(a, "push")
    sh(a, "git", "push", "-q", "origin", "main")

    # machine A: its share of the sweep through DVC's queue, then push the experiments
    params = yaml.safe_load((a / "params.yaml").read_text())
    T = scratch_and_tuned(params)[1]  # a variant fine-tuned from the one trained from scratch
    if T is None:
        pytest.skip("no variant is fine-tuned from another")
    key, tuned = f"models.{T}.beta", {f"finetune@{v}" for v in downstream(params, T)}
    base = params["models"][T]["beta"]
    beta = base + 3
    first, again = f"beta-{beta:g}", f"beta-{beta:g}-again"
    # its share as a sweep file, run by the local engine (DVC's queue, one worker) to the end
    (a / "share.txt").write_text(f"{first} {key}={beta:g}\n{again} {key}={beta:g}\n")
    try:
        sh(a, PY, "-m", "shapes_vae.sweep", "run", "share.txt", "--wait")
    finally:
        dvc(a, "queue", "stop", "--kill", check=False)
    status = sh(a, PY, "-m", "shapes_vae.sweep", "status", "share.txt").stdout
    assert status.strip().splitlines()[-1] == "2 done", status
    assert "Success" in dvc(a, "queue", "status").stdout
    trained = lambda log: {s for s in ran(log) if s.startswith(("train", "finetune"))}
    log = dvc(a, "queue", "logs", first).stdout
    assert trained(log) == tuned, log[-3000:]  # the model it starts from is unchanged
    log = dvc(a, "queue", "logs", again).stdout
    assert trained(log) == set() and f"Stage 'finetune@{T}' is cached - skipping run" in log, log[-3000:]
    sh(a, PY, "-m", "shapes_vae.gather", "beta-*", "--out", "sweeps/beta.csv", "--min-rows", "2")
    rows_a = read_csv(a / "sweeps/beta.csv")
    assert [r["experiment"] for r in rows_a] == [first, again]
    assert rows_a[0][f"{T}_test_bce"] == rows_a[1][f"{T}_test_bce"]  # the same model, restored
    dvc(a, "exp", "push", "origin", first, again)

    # machine B: a fresh clone fetches the baseline outputs, runs its share, pushes it
    b = tmp_path / "machine-b"
    sh(tmp_path, "git", "clone", "-q", str(origin), str(b))
    sh(b, "git", "config", "user.email", "b@example.com")  # experiments are commits: CI may have no identity
    sh(b, "git", "config", "user.name", "machine b")
    dvc(b, "pull")
    r = dvc(b, "exp", "run", "-n", "beta-1e-05", "-S", f"{key}=1e-5")
    assert trained(r.stdout) == tuned
    text = (b / "params.yaml").read_text()
    assert "beta: 1e-05" in text and yaml.safe_load(text)["models"][T]["beta"] == "1e-05"
    dvc(b, "exp", "push", "origin", "beta-1e-05")

    # gatherer: pull every experiment of this baseline, gather, and restore one experiment's outputs
    c = tmp_path / "gatherer"
    sh(tmp_path, "git", "clone", "-q", str(origin), str(c))
    sh(c, "git", "config", "user.email", "c@example.com")
    sh(c, "git", "config", "user.name", "gatherer")
    dvc(c, "exp", "pull", "origin")
    # the README's view of the experiments, on a terminal wide enough for any table: within 160 columns
    r = sh(c, "bash", "-c", experiments_view(), env_extra={"COLUMNS": "400"})
    lines = r.stdout.splitlines()
    assert all(f"[{n}]" in r.stdout for n in (first, again, "beta-1e-05")), r.stdout
    assert f"metrics/{T}.json:test_bce" in r.stdout and max(map(len, lines)) <= 160, r.stdout
    sh(c, PY, "-m", "shapes_vae.gather", "beta-*", "--out", "sweeps/beta.csv", "--plot", "sweeps/beta.png", "--min-rows", "3")
    rows = read_csv(c / "sweeps/beta.csv")
    assert [float(r[key]) for r in rows] == sorted([1e-5, beta, beta])
    from_a = [{k: v for k, v in r.items() if k != key} for r in rows if r["experiment"] != "beta-1e-05"]
    assert from_a == rows_a  # A's rows arrive unchanged (beta is a column here, where it varies)
    assert (c / "sweeps/beta.png").read_bytes().startswith(b"\x89PNG")
    dvc(c, "exp", "apply", "beta-1e-05")
    info = json.loads((c / f"metrics/information/{T}.json").read_text())
    row = next(r for r in rows if r["experiment"] == "beta-1e-05")
    assert float(row[f"{T}_rate_bits"]) == pytest.approx(info["rate_bits_upper_bound"], rel=1e-5)
    assert yaml.safe_load((c / "params.yaml").read_text())["models"][T]["beta"] == "1e-05"
    # the experiment's model came through the DVC remote: the workspace matches its lock, nothing to rerun
    assert (c / f"models/{T}.pt").exists()
    assert "up to date" in dvc(c, "status").stdout


def test_gather_cli_writes_the_table_and_refuses_too_few_or_ambiguous_rows(tmp_path, monkeypatch, capsys):
    from shapes_vae import gather
    from shapes_vae.errors import PipelineError

    monkeypatch.setattr(gather, "exp_show_json", lambda *a, **k: EXP_SHOW)
    out = tmp_path / "sweeps" / "beta.csv"
    gather.main(["beta-*", "--out", str(out), "--plot", str(tmp_path / "beta.png")])
    rows = list(csv.DictReader(out.open()))
    assert [r["experiment"] for r in rows] == ["beta-1e-05", "beta-2", "beta-10"]
    assert (tmp_path / "beta.png").read_bytes().startswith(b"\x89PNG")
    assert "left out beta-5 (running)" in capsys.readouterr().err
    with pytest.raises(PipelineError, match="--sort-by evaluate.seed is not a param that varies"):
        gather.main(["beta-*", "--out", str(out), "--plot", str(tmp_path / "x.png"), "--sort-by", "evaluate.seed"])
    with pytest.raises(PipelineError, match=r"3 finished experiment\(s\) match 'beta-\*', need 4"):
        gather.main(["beta-*", "--out", str(out), "--min-rows", "4"])
    twice = EXP_SHOW + [{"rev": "0123456789", "name": None, "data": {}, "error": None,
                         "experiments": [exp("beta-2", 2.0)]}]
    monkeypatch.setattr(gather, "exp_show_json", lambda *a, **k: twice)
    with pytest.raises(PipelineError, match="beta-2 appears under several commits"):
        gather.main(["beta-*", "--out", str(out)])
    assert len(list(csv.DictReader(out.open()))) == 3  # the failed runs left the last table alone


def test_gather_draws_one_point_per_beta_with_the_seeds_spread(tmp_path, monkeypatch):
    """A sweep over beta and seeds: the CSV keeps every experiment, the plot one point per beta at
    the seeds' mean with their sample sd (a runtime setting that differs, like the thread count,
    is a repeat too, not another point)."""
    from shapes_vae import gather, plotting

    runs = [exp(f"beta-{b}-seed-{s}", b, seed=s, rate=r, threads=t)
            for b, s, r, t in ((2, 1, 9.0, 0), (2, 11, 11.0, 1), (2, 21, 10.0, 0), (10, 1, 3.0, 0), (10, 11, 5.0, 1))]
    doc = [{"rev": "abcdef1234567890", "name": "main", "data": {}, "error": None, "experiments": runs}]
    monkeypatch.setattr(gather, "exp_show_json", lambda *a, **k: doc)
    drawn = {}
    monkeypatch.setattr(plotting, "plot_rate_distortion", lambda rows, path, title, key: drawn.update(rows=rows, title=title))
    out = tmp_path / "beta.csv"
    gather.main(["beta-*", "--out", str(out), "--plot", str(tmp_path / "beta.png")])
    table_rows = list(csv.DictReader(out.open()))
    assert len(table_rows) == 5 and {r["runtime.threads"] for r in table_rows} == {"0", "1"}
    # sorted by beta, the first param that defines a point, not by the thread count before it
    assert [r["experiment"] for r in table_rows] == ["beta-2-seed-1", "beta-2-seed-11", "beta-2-seed-21",
                                                    "beta-10-seed-1", "beta-10-seed-11"]
    gather.main(["beta-2-*", "--out", str(out)])  # one point: its runs in the order of their seed
    assert [r["experiment"] for r in csv.DictReader(out.open())] == ["beta-2-seed-1", "beta-2-seed-11", "beta-2-seed-21"]
    points = {p["beta"]: p for p in drawn["rows"]}
    assert sorted(points) == [2.0, 10.0] and points[2.0]["runs"] == 3 and points[10.0]["runs"] == 2
    assert points[2.0]["rate_bits"] == 10.0 and points[2.0]["rate_sd"] == 1.0  # mean, sd (ddof 1) of 9, 11, 10
    assert points[10.0]["rate_bits"] == 4.0 and abs(points[10.0]["rate_sd"] - 2 ** 0.5) < 1e-12
    assert points[2.0]["distortion_sd"] == 0.0 and "mean ± sd over 2/3 runs per point" in drawn["title"]


def _cell(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@pytest.mark.parametrize("committed", ["beta.csv", "seeds.csv"])
def test_the_committed_tables_come_back_byte_for_byte_from_their_experiments(committed, tmp_path):
    """Each committed row turned back into the `dvc exp show` experiment it was gathered from
    (its varying params, a param that does not vary, its metrics files), in reverse order: the
    table written from them is the committed file, byte for byte (order, number format, empty
    cells)."""
    from shapes_vae.gather import write_table

    path = Path(__file__).resolve().parents[1] / "sweeps" / committed
    rows = read_csv(path)
    header = list(rows[0])
    variants = [h.removesuffix("_test_bce") for h in header if h.endswith("_test_bce")]
    param_keys = [h for h in header[2:] if "." in h]
    docs = []
    for r in reversed(rows):
        params = {f"models.{v}.init": "scratch" if i == 0 else variants[0] for i, v in enumerate(variants)}
        params |= {"evaluate.seed": 3} | {k: _cell(r[k]) for k in param_keys}
        metrics = {}
        for column, (file, key) in columns(params).items():
            if r.get(column, "") != "":
                metrics.setdefault(file, {})[key] = _cell(r[column])
        docs.append({"name": r["experiment"], "rev": r["baseline"] + "0" * 33, "baseline": r["baseline"] + "0" * 33,
                     "params": params, "metrics": metrics})
    out = tmp_path / committed
    write_table(docs, out)
    assert out.read_bytes() == path.read_bytes()
