"""`make verify`: rerun the full paper configuration in a temporary clone of HEAD and compare
with the committed dvc.lock and metrics.

Verdicts: IDENTICAL (every output hash equals the lock's: expected on the machine type that
produced the lock), WITHIN TOLERANCE (hashes differ, as on another CPU or thread count, but every
metric agrees to rel. 2% -- float summation order moves trailing bits and sampled figures a
little), DIFFERENT (a metric moved more: something is not reproducible). Exit status 0, 0, 1.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from shapes_vae.errors import ArgumentParser

RTOL = 0.02


def output_hashes(lock):
    """{path: md5} of every stage output recorded in a dvc.lock mapping."""
    return {o["path"]: o.get("md5") for stage in lock.get("stages", {}).values() for o in stage.get("outs", [])}


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= flatten(v, key + ".")
        elif isinstance(v, list):
            out |= {f"{key}[{i}]": x for i, x in enumerate(v)}
        else:
            out[key] = v
    return out


def compare(old_lock, new_lock, old_metrics, new_metrics, rtol=RTOL):
    """(verdict, lines of detail) for a committed run against a fresh one."""
    old_h, new_h = output_hashes(old_lock), output_hashes(new_lock)
    changed = sorted(p for p in old_h if new_h.get(p) != old_h[p])
    if not changed:
        return "IDENTICAL", ["every output hash equals the committed dvc.lock"]
    lines, worst = [f"outputs with other hashes: {', '.join(changed)}"], 0.0
    for name in sorted(old_metrics):
        old, new = flatten(old_metrics[name]), flatten(new_metrics.get(name, {}))
        for key, a in old.items():
            b = new.get(key)
            if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
                if a != b:
                    lines.append(f"{name} {key}: {a!r} -> {b!r}")
                    worst = math.inf
                continue
            rel = abs(b - a) / max(abs(a), 1e-12)
            worst = max(worst, rel)
            if rel > 0:
                lines.append(f"{name} {key}: {a:.6g} -> {b:.6g} (rel. {rel:.2e})")
    if worst <= rtol:
        return "WITHIN TOLERANCE", lines + [f"largest relative change {worst:.2e} <= {rtol}"]
    return "DIFFERENT", lines + [f"largest relative change {worst:.2e} > {rtol}"]


def main():
    ArgumentParser(prog="python -m shapes_vae.verify", description=__doc__.splitlines()[0]).parse_args()
    root = Path(__file__).resolve().parents[1]
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "clone", "-q", str(root), tmp], check=True)
        old_lock = yaml.safe_load((Path(tmp) / "dvc.lock").read_text())
        metric_files = sorted(p.relative_to(tmp).as_posix() for p in Path(tmp).glob("metrics/**/*.json"))
        old_metrics = {m: json.loads((Path(tmp) / m).read_text()) for m in metric_files}
        print(f"verify: rerunning the full pipeline of {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=tmp, capture_output=True, text=True).stdout.strip()} in {tmp} ...", flush=True)
        subprocess.run(["dvc", "repro", "--force"], cwd=tmp, env=env, check=True)
        new_lock = yaml.safe_load((Path(tmp) / "dvc.lock").read_text())
        new_metrics = {m: json.loads((Path(tmp) / m).read_text()) for m in metric_files}
    verdict, lines = compare(old_lock, new_lock, old_metrics, new_metrics)
    print("\n".join(lines))
    print(f"verify: {verdict}")
    sys.exit(1 if verdict == "DIFFERENT" else 0)


if __name__ == "__main__":
    main()
