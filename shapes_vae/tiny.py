"""The tiny pipeline: this checkout's DVC pipeline on a configuration that runs in seconds.

    python -m shapes_vae.tiny build/tiny     # copy, shrink params.yaml, git init, dvc repro
    python -m shapes_vae.tiny --help

Same stages, same code paths, less data and fewer epochs. The test suite builds its end-to-end
projects with these functions, and the GitHub workflow runs this command on every pull request.
"""
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from shapes_vae.errors import ArgumentParser, PipelineError, run_stage

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["stages", "shapes_vae", "dvc.yaml", "README.md", "params.yaml", ".dvcignore", ".dvc/config", ".dvc/plots", ".gitignore"]
TRACKED_OUTPUTS = ["metrics", "logs", "figures", "sweeps"]  # git-tracked, as a clone has them


def tiny_params(params):
    """The paper configuration shrunk to run in seconds: same code paths, less data and time."""
    params = copy.deepcopy(params)
    params["generate"]["n_images"] = 240
    for cfg in params["models"].values():  # every variant: 3 epochs from scratch, 2 fine-tuning
        cfg["epochs"] = 3 if cfg["init"] == "scratch" else 2
        cfg["batch_size"] = 32
    params["runtime"]["progress"] = "never"
    params["runtime"]["threads"] = 1  # models this small train faster on one thread than on several
    params["evaluate"]["iwae_k"] = 4
    params["evaluate"]["batch_size"] = 50
    params["evaluate"]["prior_samples"] = 100
    params["information"]["mi_samples_per_image"] = 2
    params["novelty"]["prior_samples"] = 100
    params["novelty"]["paths"] = 10
    params["classifier"]["epochs"] = 2
    params["classifier"]["batch_size"] = 32
    return params


def make_tiny_project(dest, params):
    """A git + DVC repository at dest holding this checkout's pipeline with the given params."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in PROJECT_FILES:
        src = ROOT / f
        if src.is_dir():
            shutil.copytree(src, dest / f, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / f)
    for sub in TRACKED_OUTPUTS:
        if (ROOT / sub).is_dir():
            shutil.copytree(ROOT / sub, dest / sub)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run = lambda *cmd: subprocess.run(cmd, cwd=dest, check=True, capture_output=True, text=True)
    run("git", "init", "-q", "-b", "main")
    run("git", "config", "user.email", "tiny@example.com")
    run("git", "config", "user.name", "tiny pipeline")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "tiny project")
    return dest


def main(argv):
    ap = ArgumentParser(prog="python -m shapes_vae.tiny", description=__doc__.splitlines()[0])
    ap.add_argument("dest", help="a directory that does not exist yet")
    dest = Path(ap.parse_args(argv).dest)
    if dest.exists():
        raise PipelineError(f"{dest}: already exists; give a new directory")
    params = tiny_params(yaml.safe_load((ROOT / "params.yaml").read_text()))
    make_tiny_project(dest, params)
    dvc = [sys.executable, "-m", "dvc"]
    # stages run `python ...`: this interpreter's environment first on PATH, as `make` does
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for cmd in (["repro"], ["metrics", "show", "--md"]):
        r = subprocess.run(dvc + cmd, cwd=dest, env=env)
        if r.returncode:
            raise PipelineError(f"tiny pipeline: dvc {' '.join(cmd)} failed in {dest} (exit {r.returncode})")


if __name__ == "__main__":
    run_stage(main)
