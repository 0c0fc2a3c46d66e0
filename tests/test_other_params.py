"""No test pins a value of the committed params.yaml: a user's branch with other valid params must
still pass. Checked for real: a clone with several valid param changes runs the tests that read
params.yaml (its lock is stale there, as on any branch before `dvc repro`, so the lock tests are
left out)."""
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, scratch_and_tuned

pytestmark = pytest.mark.slow

READ_PARAMS = ["tests/test_params.py", "tests/test_render.py", "tests/test_train.py", "tests/test_classifier.py"]


def test_the_param_reading_tests_pass_with_other_valid_params(tmp_path):
    clone = tmp_path / "branch"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    for f in READ_PARAMS + ["tests/conftest.py", "shapes_vae", "params.yaml", "dvc.yaml"]:
        subprocess.run(["cp", "-rT", str(ROOT / f), str(clone / f)], check=True)  # this working tree's
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["architecture"]["latent_dim"] = 6
    params["evaluate"]["iwae_k"] = 7
    first, tuned = scratch_and_tuned(params)
    params["models"][first]["learning_rate"] = "2e-3"  # as `dvc exp run -S` writes it
    if tuned:  # renamed everywhere it is named (params.yaml, dvc.yaml), with 12 epochs
        new = lambda n: "renamed" if n == tuned else n
        params["models"] = {new(n): c | {"init": new(c["init"])} for n, c in params["models"].items()}
        params["models"]["renamed"]["epochs"] = 12
        params["report"] = {role: new(n) for role, n in params["report"].items()}
        pipeline = yaml.safe_load((clone / "dvc.yaml").read_text())
        finetune = pipeline["stages"]["finetune"]["foreach"]
        pipeline["stages"]["finetune"]["foreach"] = {new(n): new(i) for n, i in finetune.items()}
        (clone / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    params["generate"]["n_images"] = 9000
    params["generate"]["circle"]["radius_max"] = 9
    params["generate"]["classes"] = ["triangle", "circle", "rectangle"]
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", *READ_PARAMS],
                       cwd=clone, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
