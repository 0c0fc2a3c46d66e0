"""Plausible one-line bugs, each run against the tests that should catch it.

    python tools/mutants.py                 # every mutant (about 20-40 minutes on two cores)
    python tools/mutants.py --only split    # the mutants whose label contains "split"
    python tools/mutants.py --tier fast     # only the library mutants (fast tier: a few minutes)
    python tools/mutants.py --list

Each mutant replaces one piece of one line of the numerical modules or the stage scripts (a sign,
a constant, a swapped argument, the wrong part of the split) in a scratch copy of this checkout,
then runs the tests: the fast tier (`pytest -m "not slow"`) for a mutant of a library module, the
wiring tests (tests/test_wiring.py, which build the tiny project with the mutant inside) for a
mutant of a stage script. A mutant the tests miss is printed as SURVIVED; the exit status is the
number of survivors not listed in KEPT. docs/development.md says which survive and why.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = ["-m", "not slow", "-n", "2", "-x"]
WIRING = ["tests/test_wiring.py", "-x", "-p", "no:xdist"]

# (label, file, the text replaced (it must occur exactly once), its replacement, the tests to run)
MUTANTS = [
    ("kl sign of log-variance", "shapes_vae/objectives.py", "- 1.0 - logvar)", "- 1.0 + logvar)", FAST),
    ("kl half dropped", "shapes_vae/objectives.py", "return 0.5 * (mu.pow(2)", "return (mu.pow(2)", FAST),
    ("reconstruction mean not sum", "shapes_vae/objectives.py", ".flatten(1).sum(1)", ".flatten(1).mean(1)", FAST),
    ("beta ignored", "shapes_vae/objectives.py", "return recon + beta * kl,", "return recon + kl,", FAST),
    ("clip bound", "shapes_vae/objectives.py", "probs.clamp(eps, 1.0 - eps)", "probs.clamp(eps, 1.0)", FAST),
    ("reparameterize variance for sd", "shapes_vae/model.py", "torch.exp(0.5 * logvar) * eps", "torch.exp(logvar) * eps", FAST),
    ("channel noise unscaled", "shapes_vae/model.py", "z + noise_sigma * noise", "z + noise", FAST),
    ("iwae log K sign", "shapes_vae/evaluation.py", "- math.log(k)).sum())", "+ math.log(k)).sum())", FAST),
    ("iwae log K dropped", "shapes_vae/evaluation.py", "- math.log(k)).sum())", ").sum())", FAST),
    ("iwae log K off by one", "shapes_vae/evaluation.py", "- math.log(k)).sum())", "- math.log(k + 1)).sum())", FAST),
    ("iwae log q sign of logvar", "shapes_vae/evaluation.py", "+ logvar64.sum(1)[:, None]", "- logvar64.sum(1)[:, None]", FAST),
    ("iwae prior at eps", "shapes_vae/evaluation.py", "log_p = -0.5 * (LOG_2PI * d + z64.pow(2)", "log_p = -0.5 * (LOG_2PI * d + eps64.pow(2)", FAST),
    ("bce weighted per image", "shapes_vae/evaluation.py", "* xb.numel()", "* len(xb)", FAST),
    ("active units threshold", "shapes_vae/latents.py", "unbiased=False) > threshold", "unbiased=False) >= threshold", FAST),
    ("sampled z at the mean", "shapes_vae/latents.py", "return reparameterize(mu, logvar, eps.to(mu.device))\n\n\ndef channel",
     "return mu\n\n\ndef channel", FAST),
    ("channel noise dropped", "shapes_vae/latents.py", "z = z + noise_sigma *", "z = z + 0.0 *", FAST),
    ("paper bits sample variance", "shapes_vae/information.py", "z.var(axis=0, ddof=0)", "z.var(axis=0, ddof=1)", FAST),
    ("channel capacity half", "shapes_vae/information.py", "return 0.5 * np.log2(1.0 +", "return np.log2(1.0 +", FAST),
    ("rate in nats", "shapes_vae/information.py", "kl.numpy().mean(axis=0) / LN2", "kl.numpy().mean(axis=0)", FAST),
    ("split cut floors", "shapes_vae/counts.py", "np.rint(np.cumsum(fractions)", "np.floor(np.cumsum(fractions)", FAST),
    ("mig gap is the top", "shapes_vae/factors.py", "return top_two[1] - top_two[0]", "return top_two[1]", FAST),
    ("mig not normalised", "shapes_vae/factors.py", "mi / np.where(entropies > 0, entropies, 1.0)", "mi", FAST),
    ("factor keeps few values off", "shapes_vae/factors.py", "discretise(factor_columns[:, k], bins, keep_few_values=True)",
     "discretise(factor_columns[:, k], bins)", FAST),
    ("circle edge excluded", "shapes_vae/render.py", "** 2 <= r * r)", "** 2 < r * r)", FAST),
    ("uniform kl base", "shapes_vae/sample_quality.py", "np.log2(p[nz] * len(p))", "np.log(p[nz] * len(p))", FAST),
    # stage scripts: which inputs and which part of the split each one reads
    ("split parts swapped", "stages/split.py", "train, val, test = stratified_split", "train, test, val = stratified_split", WIRING),
    ("fit with the parts swapped", "stages/train.py", 'fit(name, model, data["train"], data["val"]', 'fit(name, model, data["val"], data["train"]', WIRING),
    ("fine-tune from fresh weights", "stages/train.py", 'model, _ = load_checkpoint(init_path, arch, image_size, device, runtime["backend"])',
     'model = build_vae(arch, image_size, runtime["backend"], device)', WIRING),
    ("validation on the training part", "shapes_vae/train.py", "validation_terms(model, val_x,", "validation_terms(model, train_x,", FAST),
    ("evaluate on the training part", "stages/evaluate.py", 'test, test_labels = parts["test"]', 'test, test_labels = parts["train"]', WIRING),
    ("information on the mean", "stages/information.py", "z = sample_latents(mu, logvar, seed)", "z = mu", WIRING),
    ("information on val", "stages/information.py", 'load_subsets(["test"], device)["test"]', 'load_subsets(["val"], device)["val"]', WIRING),
    ("factors log-variance for mean", "stages/factors.py", 'mu, logvar = codes["test"]', 'logvar, mu = codes["test"]', WIRING),
    ("factors channel without noise", "stages/factors.py", "channel_latents(mu, logvar, sigma,", "channel_latents(mu, logvar, 0.0,", WIRING),
    ("classifier on val", "stages/train_classifier.py", 'x["train"], y["train"], x["val"], y["val"]', 'x["val"], y["val"], x["train"], y["train"]', WIRING),
]

# Mutants that survive on purpose, with the reason (docs/development.md repeats them).
KEPT = {}


def scratch_copy():
    """This checkout's tracked and untracked-but-not-ignored files, in a temporary folder."""
    dest = Path(tempfile.mkdtemp(prefix="mutants-")) / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for f in files:
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    return dest


def run_mutant(repo, label, path, old, new, tests):
    """'KILLED' or 'SURVIVED', after applying the mutant in repo and restoring the file."""
    target = repo / path
    original = target.read_text()
    if original.count(old) != 1:
        raise SystemExit(f"error: mutant '{label}': {old!r} occurs {original.count(old)} times in {path}, not once")
    target.write_text(original.replace(old, new))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=repo,
                           capture_output=True, text=True)
    finally:
        target.write_text(original)
    return "SURVIVED" if r.returncode == 0 else "KILLED"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="run only the mutants whose label contains this text")
    ap.add_argument("--tier", choices=["fast", "wiring"], help="run only the library mutants (fast) or the stage ones (wiring)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args()
    tier = {"fast": FAST, "wiring": WIRING}.get(args.tier)
    chosen = [m for m in MUTANTS if args.only in m[0] and (tier is None or m[4] is tier)]
    if args.list:
        for label, path, *_ in chosen:
            print(f"{label:40s} {path}")
        return 0
    repo = scratch_copy()
    survivors = []
    try:
        for label, path, old, new, tests in chosen:
            start = time.monotonic()
            verdict = run_mutant(repo, label, path, old, new, tests)
            print(f"{verdict:8s} {label:40s} {path} ({time.monotonic() - start:.0f} s)", flush=True)
            if verdict == "SURVIVED" and label not in KEPT:
                survivors.append(label)
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutants killed or kept; survivors: {', '.join(survivors) or 'none'}")
    return len(survivors)


if __name__ == "__main__":
    sys.exit(main())
