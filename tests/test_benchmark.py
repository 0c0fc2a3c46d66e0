"""`make bench` runs end to end and its last line is the JSON the performance page is written from (tiny settings:
this checks the plumbing, never a speed)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT


@pytest.mark.slow  # runs the benchmark's three trainer processes
def test_benchmark_prints_comparable_json():
    out = subprocess.run(
        [sys.executable, "bench/benchmark.py", "--train-only", "--rounds", "1", "--windows", "2", "--steps", "2",
         "--threads", "1", "--images", "600"],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=600).stdout
    lines = out.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["device"] in ("cpu", "cuda") and result["threads"] == 1
    assert len(result["windows_images_per_s"]["ours"]) == len(result["windows_images_per_s"]["baseline"]) == 2
    assert result["train_images_per_s"] > 0 and result["baseline_images_per_s"] > 0
    # the headline figures are the medians of the windows it lists, and their ratio
    ours, base = (np.median(result["windows_images_per_s"][k]) for k in ("ours", "baseline"))
    assert abs(result["train_images_per_s"] - ours) <= 1 and abs(result["baseline_images_per_s"] - base) <= 1
    assert result["speedup"] == pytest.approx(ours / base, rel=0.01)
    assert result["speedup_paired"] > 0
    assert result["train_faults_per_step"] >= 0 and result["baseline_faults_per_step"] >= 0
    assert result["train_bf16_images_per_s"] > 0  # runtime.train_precision: bfloat16, reported apart
    assert sum("round 1/1" in line for line in lines) == 3  # every trainer logged


def test_full_repro_stage_times_split_at_dvc_stage_lines():
    from bench.benchmark import stage_seconds

    out = [(10.0, "Running stage 'generate':\n"), (10.1, "> python stages/generate.py\n"),
           (12.0, "Running stage 'train_standard':\n"), (12.5, "train standard: 50 epochs\n"),
           (195.2, "Running stage 'evaluate@standard':\n"), (203.0, "Use `dvc push` to send your updates\n")]
    assert stage_seconds(out, 204.0) == {"generate": 2.0, "train_standard": 183.2, "evaluate@standard": 8.8}
    assert stage_seconds([(1.0, "Stage 'split' didn't change, skipping\n")], 2.0) == {}
