"""Speed and memory of the pipeline; the last line printed is one JSON object.

    python bench/benchmark.py [--rounds 5] [--steps 20] [--threads N] [--images N] [--no-bf16] [--full-repro | --train-only]

- train_images_per_s / baseline_images_per_s: the project's train step (the model
  shapes_vae.backends.build_vae gives with runtime.backend auto, FastCPUVAE on the CPU, +
  shapes_vae.train_step, batches sliced from a resident tensor) against the plain eager version
  written the obvious way (bench/baseline.py: the package's plain shapes_vae.model.VAE, stock
  layers, NCHW, a DataLoader), the paper's
  model, batch 128, Adam, from the same initial weights on 10,500 images, after
  warm-up. Each runs in its own process and the two alternate, so load from other processes
  hits both alike; the median window counts (speedup), and speedup_paired is the median over
  rounds of each round's own ratio. Both print their page faults per step. Ours runs with the
  trainer's runtime set-up (runtime.configure_torch, which includes malloc reuse); the baseline
  with torch as it comes. train_peak_rss_mib is the largest trainer process of either kind.
- onednn_isa / aten_isa: the instruction sets the kernels ran with, as oneDNN (the
  convolutions; capped by ONEDNN_MAX_CPU_ISA) and ATen (elementwise ops, reductions; capped by
  ATEN_CPU_CAPABILITY) report them. A real AVX2 machine runs both at AVX2: to time one on an
  AVX-512 machine, cap both (and MKL's, MKL_ENABLE_INSTRUCTIONS=AVX2).
- train_bf16_images_per_s: our step with runtime.train_precision bfloat16 (autocast), measured
  in the same rounds; not part of the speed-up, which compares float32 with float32.
- generate_s: rendering the paper's 15,000 images (median of 3 calls in one process).
- evaluate_s: the stages after training (`evaluate`, `information` and `factors` of every
  variant), one process each, and the peak RSS of the largest; noop_repro_s: `dvc repro` when
  nothing changed. Both need an up-to-date pipeline, its models pulled or built (`dvc repro`
  first), and are left out, with a message, otherwise.
- --full-repro: the wall time of a full paper-configuration `dvc repro --force` in a temporary
  clone (several minutes), each stage's share of it, and the peak RSS of its largest process.
- --json-out PATH: also write the result as a bench/results file (bench/results_file.py), from
  which `make performance-page` writes docs/performance.md (`make bench` writes
  bench/results/benchmark.json).
No test asserts any of these numbers.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
N_IMAGES, BATCH = 10_500, 128
ARCHITECTURE = {"latent_dim": 8, "channels": [32, 64], "hidden": 16}  # the paper's, VAE()'s defaults
ENV = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def log(msg):
    print(msg, flush=True)


def train_worker(which, steps, windows, threads, images):
    """In a fresh process: one trainer, warm-up, then `windows` timed windows in img/s, and the
    page faults per step (the process's minor faults over the timed steps)."""
    import torch

    from bench.baseline import baseline_loader, baseline_model, baseline_step
    from shapes_vae.backends import build_vae
    from shapes_vae.model import VAE
    from shapes_vae.params import load_params
    from shapes_vae.render import generate_dataset
    from shapes_vae.runtime import configure_torch, select_device
    from shapes_vae.optim import Adam
    from shapes_vae.train_step import epoch_batches, train_step

    precision = "bfloat16" if which == "ours-bf16" else "float32"
    if which.startswith("ours"):  # the trainer's own runtime set-up (threads, malloc reuse)
        device = configure_torch({"device": "auto", "threads": threads})
    else:  # the obvious way: torch as it comes
        device = select_device("auto")
        if threads > 0:
            torch.set_num_threads(threads)
    p = load_params(["generate"], ROOT / "params.yaml")["generate"] | {"n_images": images}
    data = torch.from_numpy(generate_dataset(p)["images"]).float().unsqueeze(1)
    torch.manual_seed(0)
    state = VAE().state_dict()  # the same initial weights for both
    gen = torch.Generator(device).manual_seed(1)
    if which == "baseline":
        model = baseline_model(device)
        batches = (b[0].to(device) for _ in range(10**6) for b in baseline_loader(data, BATCH))
        step = lambda: baseline_step(model, opt, next(batches), 1.0, 0.0, gen)
    else:
        model = build_vae(ARCHITECTURE, data.shape[-1], "auto", device)
        data = data.to(device)  # resident on the device, batches sliced from it
        shuffle = torch.Generator().manual_seed(2)
        batches = (data[i.to(device)] for _ in range(10**6) for i in epoch_batches(len(data), BATCH, shuffle))
        step = lambda: train_step(model, opt, next(batches), 1.0, 0.0, gen, precision)
    model.load_state_dict(state)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3) if which == "baseline" else Adam(model.parameters(), 1e-3, fused=True)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(5):  # warm-up: oneDNN primitive caches, allocator, first touch
        step()
    rates, faults = [], resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(windows):
        sync()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rates.append(steps * BATCH / (time.perf_counter() - t))
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (windows * steps)
    return {"rates": rates, "faults_per_step": faults, "device": str(device)}


ONEDNN_ISA_LINE = re.compile(r"^onednn_verbose,.*,info,cpu,isa:(.+)$", re.MULTILINE)
ONEDNN_PROBE = """
import torch
x = torch.zeros(8, 16, 8, 8).contiguous(memory_format=torch.channels_last)
torch.nn.functional.conv2d(x, torch.zeros(16, 16, 3, 3))
"""


def onednn_isa(verbose_output):
    """The instruction set in oneDNN's verbose header ("Intel AVX2", ...), or "unknown"."""
    m = ONEDNN_ISA_LINE.search(verbose_output)
    return m.group(1).strip() if m else "unknown"


def kernel_isa():
    """{"onednn_isa": ..., "aten_isa": ...}: what the kernels of a trainer process run with under
    this environment. oneDNN names its instruction set only in the header it prints with
    ONEDNN_VERBOSE on, so a child process runs one convolution with it; ATen's is torch's own
    report, which honours ATEN_CPU_CAPABILITY."""
    import torch

    out = subprocess.run([sys.executable, "-c", ONEDNN_PROBE], env=ENV | {"ONEDNN_VERBOSE": "1"},
                         check=True, capture_output=True, text=True).stdout
    return {"onednn_isa": onednn_isa(out), "aten_isa": torch.backends.cpu.get_cpu_capability()}


STAGE_LINE = re.compile(r"Running stage '([^']+)'")


def run_timed(cmd, cwd=ROOT):
    """Wall time, peak RSS (MiB) and output of one child process: wait4's ru_maxrss is the largest
    of the child and the descendants it waited for (for `dvc repro`, its stage processes); the
    output is its stdout and stderr as (seconds since the start, line) pairs."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [(time.perf_counter() - t, line) for line in proc.stdout]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(cmd)} failed:\n" + "".join(line for _, line in lines[-30:]))
    return wall, usage.ru_maxrss / 1024, lines


def stage_seconds(lines, end):
    """{stage: seconds} from `dvc repro`'s output as (time, line) pairs: a stage runs from its
    "Running stage 'name'" line to the next stage's, or to `end`; DVC's own bookkeeping for a
    stage (hashing, the lock, the cache) is counted with it."""
    starts = [(t, m.group(1)) for t, line in lines if (m := STAGE_LINE.search(line))]
    ends = [t for t, _ in starts[1:]] + [end]
    return {name: round(e - t, 1) for (t, name), e in zip(starts, ends)}


def pipeline_changes():
    """Names of the stages `dvc status` reports as changed (empty when everything is current)."""
    from shapes_vae.lockcheck import dvc_status

    try:
        return sorted(dvc_status(ROOT, env=ENV))
    except RuntimeError as e:
        return [f"unknown: {e}"]


def generate_seconds():
    from shapes_vae.params import load_params
    from shapes_vae.render import generate_dataset

    p = load_params(["generate"], ROOT / "params.yaml")["generate"]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        generate_dataset(p)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="alternations of baseline and ours")
    ap.add_argument("--windows", type=int, default=2, help="timed windows per process")
    ap.add_argument("--steps", type=int, default=20, help="train steps per timed window")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--images", type=int, default=N_IMAGES, help="training images the batches are drawn from")
    ap.add_argument("--full-repro", action="store_true", help="also time a full dvc repro --force")
    ap.add_argument("--train-only", action="store_true", help="only the training step comparison")
    ap.add_argument("--no-bf16", action="store_true", help="skip the bfloat16 autocast step")
    ap.add_argument("--json-out", help="also write the result as a bench/results JSON file here")
    ap.add_argument("--notes", default="", help="a sentence on the conditions, added to the file's notes")
    ap.add_argument("--worker", choices=["baseline", "ours", "ours-bf16"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(train_worker(args.worker, args.steps, args.windows, args.threads, args.images)))
        return

    import torch

    result = {"threads": args.threads or torch.get_num_threads(), "torch_version": torch.__version__,
              "cpu_count": os.cpu_count()} | kernel_isa()
    log(f"kernels: oneDNN {result['onednn_isa']}, ATen {result['aten_isa']}")
    kinds = ["baseline", "ours"] + ([] if args.no_bf16 else ["ours-bf16"])
    rates, faults = {k: [] for k in kinds}, {k: [] for k in kinds}
    for r in range(args.rounds):
        for which in rates:
            out = subprocess.run([sys.executable, __file__, "--worker", which, "--steps", str(args.steps),
                                  "--windows", str(args.windows), "--threads", str(args.threads),
                                  "--images", str(args.images)],
                                 check=True, capture_output=True, text=True).stdout
            worker = json.loads(out.strip().splitlines()[-1])
            rates[which] += worker["rates"]
            faults[which].append(worker["faults_per_step"])
            result["device"] = worker["device"]
            log(f"round {r + 1}/{args.rounds} {which}: " + ", ".join(f"{v:.0f}" for v in worker["rates"])
                + f" img/s, {worker['faults_per_step']:.0f} page faults/step")
    result["train_images_per_s"] = round(statistics.median(rates["ours"]))
    result["baseline_images_per_s"] = round(statistics.median(rates["baseline"]))
    result["speedup"] = round(result["train_images_per_s"] / result["baseline_images_per_s"], 3)
    # the same ratio within each round (processes run back to back), then the median over rounds:
    # less sensitive to the machine's speed drifting between rounds
    w = args.windows
    result["speedup_paired"] = round(statistics.median(
        statistics.median(rates["ours"][r * w:(r + 1) * w]) / statistics.median(rates["baseline"][r * w:(r + 1) * w])
        for r in range(args.rounds)), 3)
    result["windows_images_per_s"] = {k: [round(x) for x in v] for k, v in rates.items()}
    if "ours-bf16" in rates:
        result["train_bf16_images_per_s"] = round(statistics.median(rates["ours-bf16"]))
    result["train_faults_per_step"] = round(statistics.median(faults["ours"]))
    result["baseline_faults_per_step"] = round(statistics.median(faults["baseline"]))
    result["train_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)

    if args.train_only:
        finish(result, args)
        return
    result["generate_s"] = round(generate_seconds(), 3)
    log(f"generate: {result['generate_s']} s for 15,000 images")

    stale = pipeline_changes()
    if stale:
        # the stage timings below rerun stages in place, and `dvc repro` would be a full run
        log(f"pipeline not up to date ({', '.join(stale)} changed): run `dvc repro` first to time "
            "evaluate and a no-op repro")
    else:
        # stage outputs are rewritten with identical bytes (the stages are deterministic)
        from shapes_vae.params import load_params

        stage_times, stage_rss = {}, {}
        for variant in load_params(["models"], ROOT / "params.yaml")["models"]:
            for stage in ("evaluate", "information", "factors"):
                name = f"{stage}@{variant}"
                stage_times[name], stage_rss[name], _ = run_timed([sys.executable, f"stages/{stage}.py", variant])
                log(f"{name}: {stage_times[name]:.1f} s")
        result["evaluate_s"] = round(sum(stage_times.values()), 1)
        result["evaluate_stage_s"] = {k: round(v, 1) for k, v in stage_times.items()}
        result["stage_peak_rss_mib"] = round(max(stage_rss.values()), 1)
        result["noop_repro_s"] = round(run_timed(["dvc", "repro"])[0], 2)
        log(f"no-op dvc repro: {result['noop_repro_s']} s")

    if args.full_repro:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["git", "clone", "-q", str(ROOT), tmp], check=True)
            wall, rss, lines = run_timed(["dvc", "repro", "--force"], cwd=tmp)
            stages = stage_seconds(lines, wall)
        result["full_repro_s"] = round(wall, 1)
        result["full_repro_stage_s"] = stages
        result["full_repro_peak_rss_mib"] = round(rss, 1)
        log(f"full dvc repro: {wall:.0f} s (" + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()) + ")")
    finish(result, args)


# the result's keys that the performance page shows: (key, measure, unit)
PAGE_ROWS = [
    ("train_images_per_s", "Training step, batch 128 (this project's code)", "images/s"),
    ("baseline_images_per_s", "Training step, the plain eager PyTorch version (bench/baseline.py)", "images/s"),
    ("speedup", "Speed-up over the plain version, median windows", "x"),
    ("speedup_paired", "Speed-up over the plain version, median of each round's ratio", "x"),
    ("train_bf16_images_per_s", "Training step under bfloat16 autocast", "images/s"),
    ("train_faults_per_step", "Page faults per training step, this project's code", "faults"),
    ("baseline_faults_per_step", "Page faults per training step, the plain version", "faults"),
    ("train_peak_rss_mib", "Peak memory of a trainer process", "MiB"),
    ("generate_s", "Generating the paper's 15,000 images", "s"),
    ("evaluate_s", "evaluate, information and factors of every variant", "s"),
    ("stage_peak_rss_mib", "Peak memory of those stages", "MiB"),
    ("noop_repro_s", "dvc repro with nothing changed", "s"),
    ("full_repro_s", "Full paper-configuration dvc repro --force", "s"),
    ("full_repro_peak_rss_mib", "Peak memory of the full repro's largest process", "MiB"),
]


def finish(result, args):
    """Print the result as the last line; with --json-out, also write it as a results file."""
    if args.json_out:
        from bench.results_file import write_result

        rows = [(measure, result[key], unit) for key, measure, unit in PAGE_ROWS if key in result]
        rows += [(f"{stage}, in the full repro", s, "s") for stage, s in result.get("full_repro_stage_s", {}).items()]
        isa = f"oneDNN {result['onednn_isa']}, ATen {result['aten_isa']}"
        capped = " at AVX2 (make bench-avx2)" if result["aten_isa"] == "AVX2" and "AVX2" in result["onednn_isa"] else " (make bench)"
        write_result(args.json_out, f"The benchmark{capped}", rows,
                     f"torch {result['torch_version']} on {result['device']}, {result['threads']} threads; "
                     f"{args.rounds} rounds of {args.windows} windows of {args.steps} steps. {args.notes}".strip(), isa)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
