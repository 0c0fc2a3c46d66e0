"""A training run can be watched while it trains: `dvc exp show` shows a queued experiment's epoch
and losses as it goes (shapes_vae.training_log writes them after every epoch)."""
import json
import subprocess
import time

import pytest
import yaml

from conftest import BIN, ENV, dvc, scratch_and_tuned

DVC = str(BIN / "dvc")


def running_training_metrics(project, name, variant):
    """(executor state, the variant's training metrics) of experiment `name` in `dvc exp show`;
    (None, None) while DVC cannot show it yet."""
    r = dvc(project, "exp", "show", "--json", check=False, timeout=300)
    if r.returncode:  # e.g. while the queue sets the experiment's workspace up
        return None, None
    for baseline in json.loads(r.stdout):
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                if rev.get("name") == name:
                    metrics = ((rev.get("data") or {}).get("metrics") or {})
                    data = metrics.get(f"metrics/training/{variant}/metrics.json", {}).get("data")
                    return (exp.get("executor") or {}).get("state"), data
    return None, None


@pytest.mark.slow
def test_a_queued_experiment_shows_its_epoch_and_losses_in_dvc_exp_show_while_it_trains(tiny_copy):
    project = tiny_copy
    params = yaml.safe_load((project / "params.yaml").read_text())
    v = scratch_and_tuned(params)[0]
    epochs = 100_000  # far more than the test waits for: it is killed once seen running
    dvc(project, "exp", "run", "--queue", "-n", "watched", "-S", f"models.{v}.epochs={epochs}")
    # the worker keeps the output streams it inherits: give it none, so nothing waits on them
    subprocess.run([DVC, "queue", "start", "-j", "1"], cwd=project, env=ENV, check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        seen, deadline = [], time.time() + 240
        while time.time() < deadline:
            state, metrics = running_training_metrics(project, "watched", v)
            if state == "running" and metrics:
                seen.append(metrics)
                if seen[-1]["step"] > seen[0]["step"]:
                    break
            time.sleep(0.5)
        assert len(seen) >= 2, f"never saw the experiment's training metrics while it ran (last state {state})"
        first, later = seen[0], seen[-1]
        assert 1 <= first["step"] < later["step"] < epochs  # epochs done, counted up while it runs
        for m in seen:
            assert set(m) == {"step", "train_loss", "val_loss"} and m["train_loss"] > 0 and m["val_loss"] > 0
    finally:
        dvc(project, "queue", "kill", "watched", check=False, timeout=120)
        dvc(project, "queue", "stop", "--kill", check=False, timeout=120)
