import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def paper_params():
    """The committed params.yaml as a dict (a fresh copy per test)."""
    return copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))


def tiny_params(params):
    """The paper configuration shrunk to run in seconds: same code paths, less data and time."""
    params["generate"]["n_images"] = 240
    for name, epochs in (("standard", 3), ("modified", 2)):
        params["models"][name]["epochs"] = epochs
        params["models"][name]["batch_size"] = 32
    params["runtime"]["progress"] = "never"
    params["evaluate"]["iwae_k"] = 4
    params["evaluate"]["batch_size"] = 50
    params["information"]["mi_samples_per_image"] = 2
    params["classifier"]["epochs"] = 2
    params["classifier"]["batch_size"] = 32
    params["evaluate"]["prior_samples"] = 100
    return params


PROJECT_FILES = ["stages", "shapes_vae", "dvc.yaml", "params.yaml", ".dvcignore", ".dvc/config", ".gitignore"]


def make_tiny_project(dest, params):
    """A git + DVC repository at dest holding this checkout's pipeline with the given params."""
    import shutil
    import subprocess

    dest.mkdir(parents=True, exist_ok=True)
    for f in PROJECT_FILES:
        src = ROOT / f
        if src.is_dir():
            shutil.copytree(src, dest / f, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / f)
    for sub in ("metrics", "logs", "figures", "sweeps"):
        if (ROOT / sub).is_dir():  # git-tracked outputs of the committed run, as a clone has them
            shutil.copytree(ROOT / sub, dest / sub)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run = lambda *cmd: subprocess.run(cmd, cwd=dest, check=True, capture_output=True, text=True)
    run("git", "init", "-q", "-b", "main")
    run("git", "config", "user.email", "test@example.com")
    run("git", "config", "user.name", "test")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "tiny project")
    return dest


@pytest.fixture
def tiny_project(tmp_path, paper_params):
    return make_tiny_project(tmp_path / "project", tiny_params(paper_params))
