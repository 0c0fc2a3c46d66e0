"""Sweep files: one experiment per line, run by DVC's queue on this machine or by Slurm array jobs
on a cluster, watched, and gathered into their table.

    python -m shapes_vae.sweep run sweeps/beta.txt                  # DVC's queue here (the default)
    python -m shapes_vae.sweep run sweeps/beta.txt --engine slurm --cpus-per-task 2
    python -m shapes_vae.sweep status sweeps/beta.txt [--engine slurm]
    python -m shapes_vae.sweep gather sweeps/beta.txt [--pull]      # -> sweeps/beta.csv, sweeps/beta.png

A sweep file holds `#` comments, blank lines and one line per point: the experiment's name, then
the params it sets, as `dvc exp run -S` takes them (`models.modified.beta=2 models.standard.seed=11`).
Every point is validated like params.yaml (its settings applied to this checkout's params.yaml)
before anything is queued or submitted. The table is the sweep file's name with .csv (and .png,
a rate-distortion plot, when the points differ in more than seeds and runtime settings), so
gathering one sweep never touches another's table. docs/sweeps.md shows the whole path.
"""
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from shapes_vae.errors import ArgumentParser, PipelineError, run_stage

# a git ref component, as `dvc exp run -n` needs it, and a name no glob or shell quoting mangles
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
SETTING = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)=(\S+)")


@dataclass(frozen=True)
class Point:
    name: str
    settings: tuple  # ((key path, value as written), ...) in the line's order
    line: int

    def set_args(self):
        """The point's settings as `dvc exp run` options."""
        return [a for k, v in self.settings for a in ("-S", f"{k}={v}")]

    def text(self):
        return " ".join([self.name, *(f"{k}={v}" for k, v in self.settings)])


def read_sweep(path):
    """The points of a sweep file, in file order; a malformed line or a name used twice is a
    PipelineError naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found") from None
    points, seen = [], {}
    for n, raw in enumerate(lines, 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        name, *settings = words
        where = f"{path}:{n}"
        if not NAME.fullmatch(name) or ".." in name or name.endswith((".", ".lock")):
            raise PipelineError(f"{where}: {name!r} is not an experiment name (letters, digits, . _ + -)")
        if name in seen:
            raise PipelineError(f"{where}: two points are named {name} (lines {seen[name]} and {n})")
        seen[name] = n
        pairs = []
        for s in settings:
            m = SETTING.fullmatch(s)
            if not m:
                raise PipelineError(f"{where}: {name}: {s!r} is not a setting KEY.PATH=VALUE")
            if m[1] in dict(pairs):
                raise PipelineError(f"{where}: {name}: {m[1]} is set twice")
            pairs.append((m[1], m[2]))
        points.append(Point(name, tuple(pairs), n))
    if not points:
        raise PipelineError(f"{path}: no points (one line per point: NAME KEY.PATH=VALUE ...)")
    return points


def apply_settings(raw, point):
    """A copy of params.yaml's raw mapping with the point's settings applied (values read as
    YAML, as `dvc exp run -S` reads them)."""
    out = json.loads(json.dumps(raw))
    for key, value in point.settings:
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else node
        if not isinstance(node, dict):
            raise PipelineError(f"{key} is not a setting (its parent is not a group)")
        node[last] = yaml.safe_load(value)
    return out


def validate_points(path, points, params_path="params.yaml"):
    """{name: the point's validated params} (params.yaml with its settings), each point checked
    as a stage checks params.yaml: an unknown key or a bad value is one line naming the sweep
    file's line."""
    from shapes_vae.params import _check_pipeline, _read, validate

    params_path = Path(params_path)
    raw = _read(params_path)
    out = {}
    for p in points:
        try:
            valid = validate(apply_settings(raw, p))
            dvc_yaml = params_path.parent / "dvc.yaml"
            if "models" in valid and dvc_yaml.exists():
                _check_pipeline(valid["models"], dvc_yaml)
        except PipelineError as e:
            raise PipelineError(f"{path}:{p.line}: {p.name}: {e}") from None
        out[p.name] = valid
    return out


def upstream_key(valid):
    """What a point's upstream work depends on: every setting but those of the variants
    fine-tuned from another (the variants trained from scratch, and the data, are shared by the
    points with equal keys, and DVC's run cache restores them)."""
    shared = {g: v for g, v in valid.items() if g != "models"}
    shared["models"] = {n: c for n, c in valid.get("models", {}).items() if c["init"] == "scratch"}
    return json.dumps(shared, sort_keys=True)


def by_upstream(points, valid):
    """The points grouped by upstream_key, in the order each upstream first appears."""
    groups = {}
    for p in points:
        groups.setdefault(upstream_key(valid[p.name]), []).append(p)
    return list(groups.values())


def in_waves(points, valid):
    """[[the first point of each upstream], [the rest of the first upstream's points], ...]: the
    order DVC's queue runs them in, so that one worker trains each upstream once."""
    groups = by_upstream(points, valid)
    return [[g[0] for g in groups]] + [g[1:] for g in groups]


def dvc(*args, check=True, cwd=None):
    r = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True, cwd=cwd)
    if check and r.returncode:
        raise PipelineError(f"dvc {' '.join(args[:2])} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return r.stdout


def local_experiments():
    """Names of the finished experiments of HEAD in this repository."""
    return set(dvc("exp", "list", "--names-only").split())


def queue_states():
    """{experiment name: state} from `dvc queue status` (Queued, Running, Success, Failed, ...)."""
    states = {}
    for line in dvc("queue", "status").splitlines()[1:]:
        words = line.split()
        if len(words) >= 2 and words[1] != "None":
            states[words[1]] = next((w for w in words[2:] if w in ("Queued", "Running", "Success", "Failed")), "?")
    return states


def run_local(points, valid, jobs, wait):
    """Queue the points not yet run or queued (the first of each upstream first) and start DVC's
    queue with `jobs` workers; with wait, return when none of them is queued or running."""
    done, states = local_experiments(), queue_states()
    for p in [p for wave in in_waves(points, valid) for p in wave]:
        if p.name in done or states.get(p.name) in ("Queued", "Running"):
            print(f"sweep: {p.name} is {'done' if p.name in done else states[p.name].lower()}, not queued again")
            continue
        dvc("exp", "run", "--queue", "-n", p.name, *p.set_args())
        print(f"sweep: queued {p.name}")
    dvc("queue", "start", "-j", str(jobs))
    while wait:
        states = queue_states()
        if not any(states.get(p.name) in ("Queued", "Running") for p in points):
            break
        time.sleep(2)


def status_local(points):
    """{name: (state, where to look)} of the points in this repository and DVC's queue."""
    done, states = local_experiments(), queue_states()
    out = {}
    for p in points:
        s = states.get(p.name)
        if p.name in done:
            out[p.name] = ("done", "")
        elif s in ("Queued", "Running"):
            out[p.name] = ({"Queued": "pending", "Running": "running"}[s], f"dvc queue logs {p.name}")
        elif s == "Failed":
            out[p.name] = ("failed", f"dvc queue logs {p.name}")
        else:
            out[p.name] = ("missing", "")
    return out


def gather_sweep(path, points, pull, git_remote, rev, partial):
    """Pull the points' experiments from the git remote (pull) and write the sweep's table (and
    plot) beside its file; unless partial, every point must have finished."""
    from shapes_vae import gather
    from shapes_vae.spread import repeats_a_point

    names = [p.name for p in points]
    if pull:
        from shapes_vae.slurm import remote_experiments, git_remote_url

        on_remote = [n for n in names if n in remote_experiments(git_remote_url(git_remote), rev or head())]
        if on_remote:
            dvc("exp", "pull", git_remote, *on_remote)
    rows, skipped = gather.finished_experiments(gather.exp_show_json(rev=rev), names=names)
    for name, state in skipped:
        print(f"sweep: left out {name} ({state})", file=sys.stderr)
    missing = [n for n in names if n not in {r["name"] for r in rows}]
    if missing and (not partial or len(missing) == len(names)):
        raise PipelineError(f"{path}: {len(missing)} of {len(names)} points have not finished ({', '.join(missing[:4])}"
                            f"{' ...' if len(missing) > 4 else ''}): see `python -m shapes_vae.sweep status {path}`"
                            + ("" if partial else "; --partial writes the finished ones"))
    keys = {k for p in points for k, _ in p.settings}
    out, plot = Path(path).with_suffix(".csv"), None
    if any(not repeats_a_point(k) for k in keys):
        plot = Path(path).with_suffix(".png")
    df = gather.write_table(rows, out, plot, None, Path(path).name)
    print(f"sweep: {len(df)} of {len(names)} point(s) -> {out}" + (f", {plot}" if plot else ""))


def head():
    r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    if r.returncode:
        raise PipelineError("not in a git repository with a commit: a sweep runs experiments of a commit")
    return r.stdout.strip()


def main(argv):
    ap = ArgumentParser(prog="python -m shapes_vae.sweep", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="queue (local) or submit (slurm) the points not yet run")
    status = sub.add_parser("status", help="each point: pending, running, done, failed (with its log) or missing")
    gather = sub.add_parser("gather", help="the finished points into the sweep's table (and plot)")
    for p in (run, status, gather):
        p.add_argument("sweep", help="a sweep file, such as sweeps/beta.txt")
        p.add_argument("--git-remote", default="origin", help="the git remote experiments go to (slurm, gather --pull)")
    for p in (run, status):
        p.add_argument("--engine", choices=("local", "slurm"), default="local",
                       help="local: DVC's queue on this machine; slurm: array jobs on a cluster")
        p.add_argument("--log-dir", default="slurm-logs",
                       help="slurm: where task logs go, on a filesystem the nodes share (default slurm-logs/<sweep>)")
    run.add_argument("-j", "--jobs", type=int, default=1, help="local: DVC queue workers (default 1: each run on every core)")
    run.add_argument("--wait", action="store_true", help="local: return when the sweep's points have run")
    run.add_argument("--cpus-per-task", type=int,
                     help="slurm: CPUs per point and its torch threads (runtime.threads); default: the points' "
                          "runtime.threads when they all set the same positive count")
    run.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                     help="slurm: an extra sbatch option, such as --partition=cpu or --time=2:00:00 (repeatable)")
    gather.add_argument("--pull", action="store_true", help="first pull the points' experiments from the git remote")
    gather.add_argument("--rev", help="experiments of this baseline commit instead of HEAD's")
    gather.add_argument("--partial", action="store_true", help="write the finished points even if some have not")
    args = ap.parse_args(argv)
    points = read_sweep(args.sweep)
    if args.command == "gather":
        return gather_sweep(args.sweep, points, args.pull, args.git_remote, args.rev, args.partial)
    if args.command == "status":
        if args.engine == "slurm":
            from shapes_vae.slurm import status_slurm

            states = status_slurm(args.sweep, points, args.git_remote, args.log_dir)
        else:
            states = status_local(points)
        width = max(len(p.name) for p in points)
        for p in points:
            state, where = states[p.name]
            if where.startswith("/") and Path(where).is_relative_to(Path.cwd()):
                where = str(Path(where).relative_to(Path.cwd()))
            print(f"{p.name:<{width}}  {state:<8} {where}".rstrip())
        counts = {s: sum(v[0] == s for v in states.values()) for s in ("done", "running", "pending", "failed", "missing")}
        print(", ".join(f"{n} {s}" for s, n in counts.items() if n))
        return
    valid = validate_points(args.sweep, points)
    if args.engine == "slurm":
        from shapes_vae.slurm import submit

        return submit(args.sweep, points, valid, args.git_remote, args.log_dir, args.cpus_per_task, args.sbatch_arg)
    run_local(points, valid, args.jobs, args.wait)


if __name__ == "__main__":
    run_stage(main)
