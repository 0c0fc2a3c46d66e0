"""A sweep on a Slurm cluster: array jobs, one task per point, each in its own clone.

Each task (TASK_SCRIPT) clones the pushed baseline commit into the node's scratch space, runs its
point with `dvc exp run --pull` (every stage whose inputs match a run in the DVC remote's run cache
is restored from it instead of run), pushes the experiment to the git remote (`dvc exp push`) and
its outputs and run cache to the DVC remote (`python -m shapes_vae.run_cache push`), and removes
its clone. A point already on the git remote is skipped, so a resubmitted sweep runs only what
is missing; a failed point fails its own task and leaves the others running.

Upstream work once: the points are grouped by their upstream (sweep.upstream_key: everything but
the fine-tuned variants' settings). The first array job trains each upstream that several points
share, on its own (an upstream task: `dvc exp run --pull -S ... train`, the variants trained from
scratch and what they need, then the run cache pushed), beside the points that have an upstream
to themselves; each shared upstream's points then form an array job that waits for its task
(`--dependency=afterany:JOB_TASK`) and restore the upstream from the run cache. The critical path
is one upstream training plus one point.

Threads: every task runs torch on exactly --cpus-per-task threads. A point whose runtime.threads
is 0 (torch's default: every core of the node, whatever the task was given) runs with
runtime.threads set to that count, recorded in its experiment like any other setting, so
`dvc exp run` of the same settings on the same kind of machine gives the same bits.
"""
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from shapes_vae.errors import PipelineError

TASK_SCRIPT = r"""#!/bin/bash
# One task of a sweep: a point, or an upstream several points share (written by
# python -m shapes_vae.sweep run --engine slurm)
set -u
list=$1 url=$2 commit=$3 bin=$4 logdir=$5
read -r kind name settings < <(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$list")
log="$logdir/$name.log"
[ "$kind" = upstream ] && log="$logdir/$name.upstream.log"
echo "$kind $name: its log is $log"
exec >>"$log" 2>&1
echo "sweep: start $(date +%s.%N) job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} node $(hostname) cpus ${SLURM_CPUS_PER_TASK:-?}"
finish() { echo "sweep: end $(date +%s.%N) exit $1"; exit "$1"; }
export PATH="$bin:$PATH" OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}" MKL_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
if [ "$kind" = point ] && [ -n "$(git ls-remote "$url" "refs/exps/${commit:0:2}/${commit:2}/$name")" ]; then
  echo "sweep: $name is already on the git remote, skipped"
  finish 0
fi
scratch=$(mktemp -d "${SLURM_TMPDIR:-${TMPDIR:-/tmp}}/shapes-vae-sweep.XXXXXX") || finish 1
trap 'rm -rf "$scratch"' EXIT
git clone -q --no-checkout "$url" "$scratch/repo" && cd "$scratch/repo" && git checkout -q "$commit" || finish 1
git config user.email >/dev/null || git config user.email "sweep@$(hostname)"
git config user.name >/dev/null || git config user.name "shapes-vae sweep"
args=()
for kv in $settings; do args+=(-S "$kv"); done
python -m shapes_vae.run_cache pull || finish 1
if [ "$kind" = upstream ]; then
  # only the variants trained from scratch (stage group train) and what they need, for the
  # points of this upstream to restore; the experiment stays in the clone
  python -m dvc exp run --pull "${args[@]}" train
  rc=$?
  python -m shapes_vae.run_cache push || rc=$?
  finish "$rc"
fi
python -m dvc exp run --pull -n "$name" "${args[@]}"
rc=$?
if [ "$rc" = 0 ]; then
  python -m dvc exp push origin "$name" && python -m shapes_vae.run_cache push || rc=$?
else
  echo "sweep: $name failed; pushing the run cache of the stages that finished"
  python -m shapes_vae.run_cache push || true
fi
finish "$rc"
"""


def git(*args, check=True):
    r = subprocess.run(["git", *args], capture_output=True, text=True)
    if check and r.returncode:
        raise PipelineError(f"git {args[0]} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return r


def git_remote_url(remote):
    r = git("remote", "get-url", remote, check=False)
    if r.returncode:
        raise PipelineError(f"no git remote {remote!r}: the tasks clone the baseline from it and push their "
                            f"experiments to it (git remote add {remote} URL && git push {remote} HEAD)")
    return r.stdout.strip()


def remote_refs(url):
    r = git("ls-remote", url, check=False)
    if r.returncode:
        raise PipelineError(f"git remote {url} cannot be read: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return [line.split("\t") for line in r.stdout.splitlines() if "\t" in line]


def remote_experiments(url, commit):
    """Names of the experiments of baseline `commit` on the git remote at `url`."""
    prefix = f"refs/exps/{commit[:2]}/{commit[2:]}/"
    return {ref[len(prefix):] for _, ref in remote_refs(url) if ref.startswith(prefix)}


def check_pushed(url, remote, commit):
    """The commit is on the git remote: a remote branch or tag is it or descends from it."""
    for sha, ref in remote_refs(url):
        if ref.startswith("refs/exps/"):
            continue
        if sha == commit or (git("cat-file", "-e", sha, check=False).returncode == 0
                             and git("merge-base", "--is-ancestor", commit, sha, check=False).returncode == 0):
            return
    raise PipelineError(f"HEAD ({commit[:7]}) is not on the git remote {remote}: the tasks clone it from there "
                        f"(git push {remote} HEAD)")


def check_dvc_remote(commit):
    """The baseline's committed .dvc/config names a default DVC remote (the nodes' clones have no other)."""
    from configobj import ConfigObj  # DVC's own config reader

    r = git("show", f"{commit}:.dvc/config", check=False)
    remote = ConfigObj(r.stdout.splitlines()).get("core", {}).get("remote") if r.returncode == 0 else None
    if not remote:
        raise PipelineError("no default DVC remote in the committed .dvc/config: the tasks pull and push outputs "
                            "through it (dvc remote add -d storage URL && git commit .dvc/config && git push)")
    return remote


def thread_counts(path, points, valid, cpus):
    """(CPUs per task, {name: settings text for the task}): each point's runtime.threads made explicit."""
    threads = {p.name: valid[p.name]["runtime"]["threads"] for p in points}
    if cpus is None:
        counts = sorted(set(threads.values()))
        if len(counts) != 1 or counts == [0]:
            raise PipelineError(f"{path}: give --cpus-per-task: the points' runtime.threads are {counts} "
                                f"(0 means every core of a node, not the task's share)")
        cpus = counts[0]
    if cpus < 1:
        raise PipelineError(f"--cpus-per-task must be >= 1, got {cpus}")
    lines = {}
    for p in points:
        if threads[p.name] > cpus:
            raise PipelineError(f"{path}:{p.line}: {p.name}: runtime.threads {threads[p.name]} is more than "
                                f"--cpus-per-task {cpus}")
        lines[p.name] = p.text() + (f" runtime.threads={cpus}" if threads[p.name] == 0 else "")
    return cpus, lines


def log_dir(path, root):
    return (Path(root) / Path(path).stem).resolve()


def job_name(path):
    return f"sweep-{Path(path).stem}"


def sbatch(args):
    r = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True)
    if r.returncode:
        raise PipelineError(f"sbatch failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return r.stdout.strip().split(";")[0]


def submit(path, points, valid, remote, logs_root, cpus, extra):
    """Check everything, then submit the points not on the git remote, in waves."""
    from shapes_vae.sweep import by_upstream, head

    if shutil.which("sbatch") is None:
        raise PipelineError("sbatch is not on PATH: submit from a Slurm login node, or run here with --engine local")
    url = git_remote_url(remote)
    commit = head()
    check_pushed(url, remote, commit)
    check_dvc_remote(commit)
    cpus, lines = thread_counts(path, points, valid, cpus)
    from shapes_vae import run_cache

    run_cache.push()  # the baseline's outputs and run cache, for the tasks to restore
    done = remote_experiments(url, commit)
    todo = [p for p in points if p.name not in done]
    if not todo:
        print(f"sweep: all {len(points)} points of {path} are on the git remote; nothing to submit")
        return []
    logs = log_dir(path, logs_root)
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "task.sh").write_text(TASK_SCRIPT)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    record_path = logs / "submitted.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else []
    task_args = [url, commit, str(Path(sys.executable).parent), str(logs)]
    common = [f"--cpus-per-task={cpus}", f"--job-name={job_name(path)}", f"--output={logs}/slurm-%A_%a.out", *extra]
    # the first array job: each upstream shared by several points trained on its own (an
    # upstream task), and each point alone with its upstream; then one array job per shared
    # upstream, its points, waiting for that task
    groups = by_upstream(todo, valid)
    first = [("upstream" if len(g) > 1 else "point", g[0]) for g in groups]
    jobs = []
    try:
        job = _submit_wave(logs, stamp, 0, [f"{kind} {lines[p.name]}" for kind, p in first], common, [], task_args)
        jobs.append(job)
        record.append({"job": job, "commit": commit, "points": [p.name if kind == "point" else None for kind, p in first]})
        print(f"sweep: job {job}: {sum(len(g) == 1 for g in groups)} point(s), "
              f"{sum(len(g) > 1 for g in groups)} upstream(s) shared by several points")
        for i, g in enumerate(groups):
            if len(g) > 1:
                after = f"{job}_{i}"
                k = _submit_wave(logs, stamp, len(jobs), [f"point {lines[p.name]}" for p in g], common,
                                 [f"--dependency=afterany:{after}"], task_args)
                jobs.append(k)
                record.append({"job": k, "commit": commit, "points": [p.name for p in g], "after": after})
                print(f"sweep: job {k}: {len(g)} point(s), after {after} (their upstream)")
    except BaseException:  # no half-submitted sweep: cancel what went in
        if jobs:
            subprocess.run(["scancel", *jobs], capture_output=True)
        raise
    record_path.write_text(json.dumps(record, indent=1))
    skipped = len(points) - len(todo)
    print(f"sweep: {len(todo)} point(s) submitted ({cpus} CPU(s) and torch threads each)"
          + (f"; {skipped} already on the git remote" if skipped else "")
          + f"; logs in {logs}; follow with: python -m shapes_vae.sweep status {shlex.quote(str(path))} --engine slurm")
    return jobs


def _submit_wave(logs, stamp, k, entries, common, dependency, task_args):
    """One array job, one task per entry ("point NAME SETTINGS" or "upstream NAME SETTINGS")."""
    listing = logs / f"tasks-{stamp}-{k}.txt"
    listing.write_text("".join(e + "\n" for e in entries))
    return sbatch([f"--array=0-{len(entries) - 1}", *common, *dependency, str(logs / "task.sh"), str(listing), *task_args])


def queue_states(path):
    """{"JOB_TASK": Slurm state} of the sweep's tasks still known to Slurm."""
    if shutil.which("squeue") is None:
        return {}
    r = subprocess.run(["squeue", "-h", "-r", f"--name={job_name(path)}", "-o", "%i|%T"], capture_output=True, text=True)
    return dict(line.split("|", 1) for line in r.stdout.split() if "|" in line)


def last_attempt(log):
    """(start line, end line or None) of the last attempt in a task's log; (None, None) if none."""
    if not log.exists():
        return None, None
    start = end = None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("sweep: start "):
            start, end = line, None
        elif line.startswith("sweep: end "):
            end = line
    return start, end


def status_slurm(path, points, remote, logs_root):
    """{name: (state, log path)}: done (on the git remote), pending or running (in Slurm's queue),
    failed (its last attempt ended with an error or never ended), missing (never submitted)."""
    from shapes_vae.sweep import head

    done = remote_experiments(git_remote_url(remote), head())
    logs = log_dir(path, logs_root)
    record = json.loads((logs / "submitted.json").read_text()) if (logs / "submitted.json").exists() else []
    tasks = {f"{r['job']}_{i}": name for r in record for i, name in enumerate(r["points"]) if name}
    queued = {}
    for task, state in queue_states(path).items():
        if task in tasks:
            queued[tasks[task]] = state
    out = {}
    for p in points:
        log = logs / f"{p.name}.log"
        start, end = last_attempt(log)
        if p.name in done:
            out[p.name] = ("done", "")
        elif p.name in queued:
            out[p.name] = ("pending" if queued[p.name] == "PENDING" else "running", str(log))
        elif start is not None and (end is None or not end.endswith(" exit 0")):
            out[p.name] = ("failed", str(log))
        else:
            out[p.name] = ("missing", str(log) if start else "")
    return out

