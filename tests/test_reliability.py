"""Interruptions, damaged inputs, bad params through real `dvc repro`, and repeatability."""
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import copy_project, make_tiny_project, scratch_and_tuned, set_params, tiny_params
from test_params import BAD_EDITS, set_key

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
ENV = os.environ | {"PATH": f"{BIN}:{os.environ['PATH']}"}


def run(project, *cmd, **kw):
    return subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=ENV, **kw)


def digests(project, paths):
    return {p: hashlib.md5((project / p).read_bytes()).hexdigest() for p in paths}


def outputs(project):
    """The pipeline's outputs: the data, and every variant's model, log and metrics."""
    names = yaml.safe_load((project / "params.yaml").read_text())["models"]
    return ["RESULTS.md", "data/shapes.npz", "data/split.npz"] + [
        f.format(v) for v in names
        for f in ("models/{}.pt", "logs/{}.csv", "metrics/{}.json", "metrics/information/{}.json", "metrics/factors/{}.json")]


def first_variant(project):
    return scratch_and_tuned(yaml.safe_load((project / "params.yaml").read_text()))[0]


@pytest.fixture(scope="module")
def built(built_tiny, tmp_path_factory):
    """A module-private copy of the test run's built tiny project (the bad-params tests restore it)."""
    return copy_project(built_tiny[0], tmp_path_factory.mktemp("rel") / "project")


def test_two_fresh_clones_give_identical_results(built, tmp_path):
    """The tiny pipeline run again from a fresh clone gives the same bytes: data, checkpoints,
    logs and metrics."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(built), str(clone)], check=True)
    r = run(clone, "dvc", "repro", "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    assert digests(clone, outputs(built)) == digests(built, outputs(built))
    assert (clone / "dvc.lock").read_text() == (built / "dvc.lock").read_text()


# Every rule is checked in-process (tests/test_params.py); through real `dvc repro` and `dvc exp run`,
# bad edits whose first stage to run would be generate, a training stage and an evaluation stage,
# and a YAML syntax error, are refused with one line before DVC removes any output: every output of
# the last good run stays, committed or not, and once params.yaml is restored `dvc status` is clean.
DVC_EDITS = [next(e for e in BAD_EDITS if e[0].startswith(group)) for group in ("generate.", "models.", "evaluate.")]


def every_output(project):
    """Every file the pipeline wrote (data, models, logs, metrics, figures, the results page)."""
    return sorted(str(p.relative_to(project)) for d in ("data", "models", "logs", "metrics", "figures")
                  for p in (project / d).rglob("*") if p.is_file() and p.name != ".gitignore") + ["RESULTS.md"]


REFUSED = [(c, *e) for c in ("repro", "exp run") for e in DVC_EDITS] + [("repro", "(syntax)", None, "params.yaml")]


@pytest.mark.parametrize("command, path, value, message", REFUSED, ids=[f"{c}:{p}={v!r}" for c, p, v, _ in REFUSED])
def test_a_refused_edit_deletes_nothing(built, command, path, value, message):
    good_params = (built / "params.yaml").read_text()
    lock = (built / "dvc.lock").read_bytes()
    # an uncommitted result too: the last good run need not be committed
    (built / "logs" / "uncommitted.csv").write_text("epoch\n1\n")
    before = digests(built, every_output(built))
    try:
        if command == "exp run":
            setting = f"{path}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
            r = run(built, "dvc", "exp", "run", "-S", setting)
        else:
            if path == "(syntax)":
                (built / "params.yaml").write_text(good_params + "split: [unclosed\n")
            else:
                params = yaml.safe_load(good_params)
                set_key(params, path, value)
                (built / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            r = run(built, "dvc", "repro")
        assert r.returncode != 0
        assert message in r.stderr and "Traceback" not in r.stderr + r.stdout, r.stderr
        errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
        assert path == "(syntax)" or len(errors) == 1  # our one line (DVC adds its own summary)
        assert (built / "dvc.lock").read_bytes() == lock
        assert digests(built, every_output(built)) == before  # nothing removed, nothing rewritten
    finally:
        (built / "params.yaml").write_text(good_params)
        (built / "logs" / "uncommitted.csv").unlink()
    status = run(built, "dvc", "status")
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr


def test_damaged_inputs_give_one_line_errors(built, tmp_path):
    clone = tmp_path / "c"
    subprocess.run(["cp", "-a", str(built), str(clone)], check=True)
    v = first_variant(clone)

    def fails(stage_args, *words):
        r = run(clone, sys.executable, *stage_args)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr
        assert all(w in lines[0] for w in words), lines[0]

    shapes = clone / "data/shapes.npz"
    good = shapes.read_bytes()
    shapes.write_bytes(good[: len(good) // 2])  # truncated
    fails(["stages/split.py"], "data/shapes.npz", "not a readable .npz")
    from shapes_vae.io import save_npz

    save_npz(shapes, {"images": np.zeros((240, 28, 27), np.uint8), "labels": np.zeros(240, np.uint8)})
    fails(["stages/train.py", v], "data/shapes.npz", "28x27")
    save_npz(shapes, {"images": np.zeros((240, 28, 28), np.uint8), "labels": np.zeros(240, np.uint8)})
    (clone / "data/split.npz").unlink()
    fails(["stages/train.py", v], "data/split.npz", "file not found")
    shapes.write_bytes(good)
    run(clone, "dvc", "checkout", "data/split.npz")
    latent = set_params(clone, lambda p: p["architecture"].update(latent_dim=p["architecture"]["latent_dim"] + 1))
    new = latent["architecture"]["latent_dim"]
    fails(["stages/evaluate.py", v], f"models/{v}.pt", f"architecture.latent_dim = {new - 1}, params ask for {new}")
    r = run(clone, sys.executable, "stages/evaluate.py", v, "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr  # --debug shows where


def test_killed_training_resumes_to_the_same_result(tmp_path, paper_params):
    """SIGKILL a real `dvc repro` in the middle of training; the next `dvc repro` resumes from the
    last complete epoch and ends with the checkpoint an uninterrupted run writes."""
    params = tiny_params(paper_params)
    v = scratch_and_tuned(params)[0]
    params["generate"]["n_images"] = 600
    params["models"][v]["epochs"] = 8
    projects = {k: make_tiny_project(tmp_path / k, params) for k in ("whole", "killed")}
    assert run(projects["whole"], "dvc", "repro", f"train@{v}").returncode == 0

    killed = projects["killed"]
    assert run(killed, "dvc", "repro", "split").returncode == 0
    proc = subprocess.Popen(["dvc", "repro", f"train@{v}"], cwd=killed, env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed / f".resume/{v}.pt"
    deadline = time.time() + 300
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / f"models/{v}.pt").exists()  # nothing that looks like a result
    r = run(killed, "dvc", "repro", f"train@{v}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resuming after epoch" in r.stderr + r.stdout
    assert not state.exists()
    outputs = [f"models/{v}.pt", f"logs/{v}.csv", f"metrics/training/{v}/metrics.json"]
    assert digests(killed, outputs) == digests(projects["whole"], outputs)
