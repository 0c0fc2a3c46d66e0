import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shapes_vae.tiny import make_tiny_project, tiny_params  # noqa: F401 (re-exported to the tests)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def run(cwd, *cmd, check=True, timeout=900, env=None):
    """A command in cwd with this environment's python and dvc first on PATH; check=True fails the
    test with its output."""
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env or ENV, timeout=timeout)
    if check and r.returncode:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed in {cwd}:\n{r.stdout}\n{r.stderr}")
    return r


def dvc(cwd, *args, **kw):
    return run(cwd, BIN / "dvc", *args, **kw)


def ran(output):
    """The stages `dvc repro` ran (not those it skipped or restored from the run cache)."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def scratch_and_tuned(params):
    """(the first variant trained from scratch, the first variant fine-tuned from it or None): the
    tests name the variants of the params they run on, whatever a branch calls them."""
    models = params["models"]
    scratch = next(n for n, c in models.items() if c["init"] == "scratch")
    return scratch, next((n for n, c in models.items() if c["init"] == scratch), None)


def downstream(params, name):
    """`name` and every variant fine-tuned from it, directly or through others."""
    models, out = params["models"], {name}
    while True:
        more = {n for n, c in models.items() if c["init"] in out} - out
        if not more:
            return out
        out |= more


def set_params(project, edit):
    """Apply edit(params dict) to project/params.yaml through YAML (never by text replacement)."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    edit(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def pytest_collection_modifyitems(config, items):
    """Run order for `make test`'s workers, which are fed the tests in this order as they finish
    them, two queued per worker (--dist load --maxschedchunk 1): the real pipeline runs first and
    the unit tests last, so the two workers end together. The first worker builds the shared tiny
    project (`built_tiny`) while the other runs the pipelines that do not need it; the tests that
    do come after those. Without workers the file order stays, unit tests first."""
    if not (config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") != "no"):
        return

    def tiny(item):
        return bool({"built_tiny", "tiny_copy"} & set(getattr(item, "fixturenames", ())))

    first_tiny = next((i for i in items if tiny(i)), None)

    def order(item):
        if item is first_tiny:
            return 0
        if item.get_closest_marker("slow"):
            return 2 if tiny(item) else 1
        return 3

    items.sort(key=order)  # stable: file order within each tier


@pytest.fixture(scope="module")
def one_torch_thread():
    """Models as small as the unit tests' run several times faster on one thread (far more so on a
    busy machine); the caller's setting comes back after the module."""
    import torch

    was = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(was)


@pytest.fixture
def paper_params():
    """The committed params.yaml as a dict (a fresh copy per test)."""
    return copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))


@pytest.fixture(scope="session")
def built_tiny(tmp_path_factory):
    """One tiny project after a full `dvc repro`, built once per test run by the command the
    GitHub workflow runs, committed; tests that change it take a copy (`tiny_copy`). Under
    pytest-xdist (`make test` runs two workers) the first worker to need it builds it in the run's
    shared temporary folder and the others wait for it, so it is built once, not once per worker."""
    from filelock import FileLock  # installed with DVC

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' folders sit side by side in the run's folder
    project, output = shared / "e2e" / "project", shared / "e2e" / "tiny-output.txt"
    with FileLock(str(shared / "e2e.lock")):
        if not output.exists():
            r = run(ROOT, sys.executable, "-m", "shapes_vae.tiny", project)
            run(project, "git", "add", "-A")
            run(project, "git", "commit", "-qm", "built")
            output.write_text(r.stdout + r.stderr)
    return project, output.read_text()


def copy_project(src, dest):
    """A copy of a project with its git history and DVC cache, without DVC's scratch folder
    (.dvc/tmp: locks and a state database that another test's dvc may be writing as we copy;
    DVC rebuilds it)."""
    skip = os.path.join(str(src), ".dvc")
    shutil.copytree(src, dest, symlinks=True, ignore=lambda d, names: ["tmp"] if d == skip else [])
    return dest


@pytest.fixture
def tiny_copy(built_tiny, tmp_path):
    """A private copy of the built tiny project (git history and DVC cache included)."""
    return copy_project(built_tiny[0], tmp_path / "project")
