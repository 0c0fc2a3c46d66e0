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
    assert result["onednn_isa"] != "unknown" and result["aten_isa"]  # the instruction sets it ran with
    assert sum("round 1/1" in line for line in lines) == 3  # every trainer logged


def test_full_repro_stage_times_split_at_dvc_stage_lines():
    from bench.benchmark import stage_seconds

    out = [(10.0, "Running stage 'generate':\n"), (10.1, "> python stages/generate.py\n"),
           (12.0, "Running stage 'train_standard':\n"), (12.5, "train standard: 50 epochs\n"),
           (195.2, "Running stage 'evaluate@standard':\n"), (203.0, "Use `dvc push` to send your updates\n")]
    assert stage_seconds(out, 204.0) == {"generate": 2.0, "train_standard": 183.2, "evaluate@standard": 8.8}
    assert stage_seconds([(1.0, "Stage 'split' didn't change, skipping\n")], 2.0) == {}


def test_onednn_isa_read_from_its_verbose_header():
    from bench.benchmark import onednn_isa

    header = ("onednn_verbose,v1,info,oneDNN v3.12.0 (commit 80afa71049cd69a3df32adcccb623b12cd7baa22)\n"
              "onednn_verbose,v1,info,cpu,runtime:OpenMP,nthr:2\n"
              "onednn_verbose,v1,info,cpu,isa:Intel AVX2\n"
              "onednn_verbose,v1,info,gpu,runtime:none\n")
    assert onednn_isa(header) == "Intel AVX2"
    assert onednn_isa("no header here\n") == "unknown"


def test_kernel_isa_honours_the_caps(monkeypatch):
    """Capped at AVX2, oneDNN reports AVX2 (on a CPU that has AVX2 at all)."""
    import torch

    from bench import benchmark

    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("no AVX2 on this CPU")
    monkeypatch.setattr(benchmark, "ENV", benchmark.ENV | {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    isa = benchmark.kernel_isa()
    assert "AVX2" in isa["onednn_isa"] and "512" not in isa["onednn_isa"]
