"""The tiny sweep's wall time through Slurm (two single-CPU workers) and through DVC's local queue
(one worker), and what that predicts for an 18-point beta sweep on N workers; writes
bench/results/sweep.json (the performance page's format).

    python bench/sweep.py            # needs Debian's slurmctld, slurmd, slurm-client and munge

It builds the tiny project, copies it, and runs the same three points over two upstreams (two new
seeds of the variant trained from scratch, the fine-tuned one at two beta) on each copy: on a
one-node Slurm cluster started here (tools/local_slurm.py) with local git and DVC remotes, and with
`python -m shapes_vae.sweep run --wait` (DVC's queue, -j 1). From the Slurm tasks' own logs it
takes T_u (the upstream task) and T_p (a point that restores its upstream) and fills in
docs/sweeps.md's formula T(N) = ceil(3 / N) T_u + ceil(18 / N) T_p.
"""
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
import local_slurm  # noqa: E402

PY = sys.executable
ENV = os.environ | {"PATH": f"{Path(PY).parent}{os.pathsep}{os.environ['PATH']}"}


def sh(cwd, *cmd, env=None):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env or ENV)
    if r.returncode:
        sys.exit(f"{' '.join(map(str, cmd))} failed in {cwd}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def machine():
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "other"
    return {"cpu": model, "isa": isa, "cores": os.cpu_count()}


def sweep_file(project):
    from conftest import scratch_and_tuned  # noqa: the tests' way of naming the variants

    params = yaml.safe_load((project / "params.yaml").read_text())
    scratch, tuned = scratch_and_tuned(params)
    seed, beta = params["models"][scratch]["seed"], params["models"][tuned]["beta"]
    s1, s2, b1, b2 = seed + 100, seed + 200, beta + 1, beta + 2
    points = [(b1, s1), (b1, s2), (b2, s1)]
    text = "".join(f"p-{b:g}-{s} models.{tuned}.beta={b:g} models.{scratch}.seed={s}\n" for b, s in points)
    (project / "sweeps").mkdir(exist_ok=True)
    (project / "sweeps" / "bench.txt").write_text(text)
    return [f"p-{b:g}-{s}" for b, s in points]


def task_seconds(log):
    text = log.read_text()
    text = text[text.rindex("sweep: start "):]
    start = float(text.split()[2])
    end = next(float(line.split()[2]) for line in text.splitlines() if line.startswith("sweep: end "))
    return end - start


def main():
    missing = local_slurm.missing()
    if missing:
        sys.exit(f"bench/sweep.py needs Slurm: missing {', '.join(missing)} (apt-get install slurmctld slurmd slurm-client munge)")
    sys.path.insert(0, str(ROOT / "tests"))
    tmp = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    try:
        a = tmp / "slurm-project"
        sh(ROOT, PY, "-m", "shapes_vae.tiny", a)
        sh(a, "git", "add", "-A")
        sh(a, "git", "commit", "-qm", "built")
        local = tmp / "local-project"
        shutil.copytree(a, local, symlinks=True)
        names = sweep_file(a)
        sweep_file(local)

        origin = tmp / "origin.git"
        sh(tmp, "git", "init", "-q", "--bare", "-b", "main", origin)
        sh(a, "git", "remote", "add", "origin", origin)
        sh(a, PY, "-m", "dvc", "remote", "add", "-d", "storage", tmp / "dvc-storage")
        sh(a, "git", "commit", "-qam", "remotes")
        sh(a, "git", "push", "-q", "origin", "main")
        with local_slurm.cluster(tmp / "slurm", cpus=2) as env:
            env = env | {"PATH": ENV["PATH"]}
            t0 = time.perf_counter()
            sh(a, PY, "-m", "shapes_vae.sweep", "run", "sweeps/bench.txt", "--engine", "slurm", "--cpus-per-task", "1", env=env)
            while subprocess.run(["squeue", "-h", "--name=sweep-bench"], capture_output=True, text=True, env=env).stdout.strip():
                time.sleep(1)
            slurm_s = time.perf_counter() - t0
        status = sh(a, PY, "-m", "shapes_vae.sweep", "status", "sweeps/bench.txt", "--engine", "slurm")
        if status.strip().splitlines()[-1] != f"{len(names)} done":
            sys.exit(f"the Slurm sweep did not finish every point:\n{status}")
        logs = a / "slurm-logs" / "bench"
        upstream = task_seconds(logs / f"{names[0]}.upstream.log")  # the seed shared by names[0] and names[2]
        point = sum(task_seconds(logs / f"{names[i]}.log") for i in (0, 2)) / 2

        t0 = time.perf_counter()
        sh(local, PY, "-m", "shapes_vae.sweep", "run", "sweeps/bench.txt", "--wait")
        local_s = time.perf_counter() - t0
        status = sh(local, PY, "-m", "shapes_vae.sweep", "status", "sweeps/bench.txt")
        if status.strip().splitlines()[-1] != f"{len(names)} done":
            sys.exit(f"the local sweep did not finish every point:\n{status}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        {"measure": "tiny sweep (3 points, 2 upstreams), Slurm, 2 single-CPU workers", "value": round(slurm_s, 1), "unit": "s"},
        {"measure": "tiny sweep (3 points, 2 upstreams), DVC queue -j 1", "value": round(local_s, 1), "unit": "s"},
        {"measure": "tiny sweep, DVC queue -j 1 / Slurm", "value": round(local_s / slurm_s, 2), "unit": "x"},
        {"measure": "tiny upstream task (the standard model), T_u", "value": round(upstream, 1), "unit": "s"},
        {"measure": "tiny point restoring its upstream, T_p", "value": round(point, 1), "unit": "s"},
    ]
    for n in (1, 2, 3, 6, 18):
        predicted = math.ceil(3 / n) * upstream + math.ceil(18 / n) * point
        rows.append({"measure": f"18-point sweep, {n} worker(s): ceil(3/N) T_u + ceil(18/N) T_p",
                     "value": round(predicted, 1), "unit": "s"})
    result = {"title": "Sweeps: Slurm against DVC's local queue (tiny configuration)",
              "date": datetime.date.today().isoformat(), "machine": machine(), "rows": rows,
              "notes": "Wall times from submitting to the last point's end, on one machine that other processes "
                       "may share; the Slurm tasks include cloning, pushing and pulling through local remotes. "
                       "The 18-point rows apply docs/sweeps.md's formula to the measured tiny task times."}
    out = ROOT / "bench" / "results" / "sweep.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
