import os
import subprocess
import sys

import pytest

from conftest import ROOT
from shapes_vae.verify import compare


def lock(**hashes):
    return {"stages": {"s": {"outs": [{"path": p, "md5": h} for p, h in hashes.items()]}}}


METRICS = {"metrics/standard.json": {"test_bce": 0.0350, "active_units": 8},
           "metrics/information/modified.json": {"paper_bits_estimate": 10.9, "rate_bits_per_dim": [1.2, 1.4]}}


def test_identical_hashes():
    assert compare(lock(a="1", b="2"), lock(a="1", b="2"), METRICS, METRICS)[0] == "IDENTICAL"


def test_small_float_differences_are_within_tolerance():
    new = {"metrics/standard.json": {"test_bce": 0.03502, "active_units": 8},
           "metrics/information/modified.json": {"paper_bits_estimate": 10.91, "rate_bits_per_dim": [1.2, 1.401]}}
    verdict, lines = compare(lock(a="1"), lock(a="9"), METRICS, new)
    assert verdict == "WITHIN TOLERANCE" and any("test_bce" in line for line in lines)


def test_a_moved_metric_is_different():
    new = {"metrics/standard.json": {"test_bce": 0.05, "active_units": 8},
           "metrics/information/modified.json": METRICS["metrics/information/modified.json"]}
    assert compare(lock(a="1"), lock(a="9"), METRICS, new)[0] == "DIFFERENT"
    missing = {"metrics/standard.json": {"active_units": 8}, "metrics/information/modified.json": {}}
    assert compare(lock(a="1"), lock(a="9"), METRICS, missing)[0] == "DIFFERENT"


# the commands' own arguments; an unknown one comes last, after valid ones (no work may start)
COMMANDS = {"tiny": ["new-project"], "verify": [], "gather": ["beta-*", "--out", "beta.csv"]}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_commands_answer_help_and_refuse_an_unknown_argument_in_one_line(tmp_path, command):
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    run = lambda *args: subprocess.run([sys.executable, "-m", f"shapes_vae.{command}", *args], cwd=tmp_path,
                                       env=env, capture_output=True, text=True, timeout=60)
    r = run("--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: python -m shapes_vae.{command}") and r.stderr == ""
    r = run(*COMMANDS[command], "--bogus")
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: python -m shapes_vae.{command}: ")
    assert "--bogus" in lines[0] and "--help" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing was done: no project, no table, no clone
