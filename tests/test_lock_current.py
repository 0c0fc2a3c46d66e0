"""CI's pipeline check: the committed dvc.lock matches the committed code and params, so the
committed metrics describe them. Data outputs a fresh clone cannot have are ignored."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, set_params
from shapes_vae.lockcheck import stale_entries

DVC = str(Path(sys.executable).with_name("dvc"))


def test_committed_lock_is_current():
    if not (ROOT / "dvc.lock").exists():
        pytest.fail("dvc.lock is missing: run `make reproduce` and commit dvc.lock and metrics/")
    stale = stale_entries(ROOT, DVC)
    assert not stale, "dvc.lock is stale; run `make reproduce` and commit dvc.lock and metrics/:\n" + "\n".join(stale)


def test_check_catches_a_code_or_param_change_but_not_missing_data(tmp_path):
    """In a fresh clone of a tiny built project: clean at first (data absent), then stale after
    editing a tracked dependency, and after editing a param."""
    built = tmp_path / "built"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(built)], check=True)
    if not (built / "dvc.lock").exists():
        pytest.skip("no committed dvc.lock yet")
    assert stale_entries(built, DVC) == []
    with open(built / "shapes_vae/split.py", "a") as f:
        f.write("\n# an edit\n")
    assert any("shapes_vae/split.py modified" in s for s in stale_entries(built, DVC))
    subprocess.run(["git", "checkout", "-q", "shapes_vae/split.py"], cwd=built, check=True)
    set_params(built, lambda p: p["evaluate"].update(iwae_k=p["evaluate"]["iwae_k"] + 1))
    assert any("evaluate" in s and "modified" in s for s in stale_entries(built, DVC))
