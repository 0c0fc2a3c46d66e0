"""Sweep files and their engines: the file's rules, the refusals before anything is queued or
submitted, and a real sweep on a one-node Slurm cluster started on this machine (tools/local_slurm.py)
through local git and DVC remotes.

Without Slurm's programs the cluster test is skipped, unless SHAPES_VAE_REQUIRE_SLURM is set (CI
installs them and sets it), which turns the skip into a failure."""
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, dvc, ran, run, scratch_and_tuned
from shapes_vae.errors import PipelineError
from shapes_vae.sweep import in_waves, main, read_sweep, validate_points

sys.path.insert(0, str(ROOT / "tools"))
import local_slurm  # noqa: E402

PY = sys.executable


def tuned_or_skip(params):
    scratch, tuned = scratch_and_tuned(params)
    if tuned is None:
        pytest.skip("no variant is fine-tuned from another")
    return scratch, tuned


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_sweep_file_gives_its_points_in_order_and_refuses_malformed_lines(tmp_path):
    f = write(tmp_path / "s.txt", "# comment\n\nb-1  models.m.beta=1 models.m.seed=2   # trailing\nb-2\n")
    points = read_sweep(f)
    assert [(p.name, p.settings, p.line) for p in points] == [
        ("b-1", (("models.m.beta", "1"), ("models.m.seed", "2")), 3), ("b-2", (), 4)]
    assert points[0].set_args() == ["-S", "models.m.beta=1", "-S", "models.m.seed=2"]
    for text, message in [
        ("a x=1\nb\na y=2\n", r"s.txt:3: two points are named a \(lines 1 and 3\)"),
        ("a beta\n", r"s.txt:1: a: 'beta' is not a setting KEY.PATH=VALUE"),
        ("a x=1 x=2\n", r"s.txt:1: a: x is set twice"),
        ("a..b x=1\n", r"s.txt:1: 'a..b' is not an experiment name"),
        ("beta-* x=1\n", r"s.txt:1: 'beta-\*' is not an experiment name"),
        ("# nothing\n", r"s.txt: no points"),
    ]:
        with pytest.raises(PipelineError, match=message):
            read_sweep(write(f, text))


def test_every_point_is_validated_like_params_yaml(tmp_path, paper_params):
    scratch, tuned = tuned_or_skip(paper_params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(paper_params, sort_keys=False))
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    f = tmp_path / "s.txt"
    ok = write(f, f"p-1 models.{tuned}.beta=1e-5 runtime.threads=2\np-2 models.{scratch}.seed=7\n")
    valid = validate_points(ok, read_sweep(ok), tmp_path / "params.yaml")
    assert valid["p-1"]["models"][tuned]["beta"] == 1e-5 and valid["p-1"]["runtime"]["threads"] == 2
    assert valid["p-2"]["models"][scratch]["seed"] == 7
    assert valid["p-2"]["models"][tuned] == valid["p-1"]["models"][tuned] | {"beta": paper_params["models"][tuned]["beta"]}
    for line, message in [
        (f"p models.{tuned}.bta=2", rf"s.txt:2: p: models.{tuned}.bta is not a known setting"),
        (f"p models.{tuned}.beta=-1", rf"s.txt:2: p: models.{tuned}.beta must be in \[0, inf\], got -1"),
        ("p runtime.threds=1", r"s.txt:2: p: runtime.threds is not a known setting"),
        (f"p models.{tuned}.init=nowhere", rf"s.txt:2: p: models.{tuned}.init must be scratch or one of"),
        ("p runtime.threads.x=1", r"s.txt:2: p: runtime.threads.x is not a setting"),
    ]:
        bad = write(f, f"ok-1 models.{scratch}.seed=3\n{line}\n")
        with pytest.raises(PipelineError, match=message):
            validate_points(bad, read_sweep(bad), tmp_path / "params.yaml")


def test_waves_put_one_point_per_upstream_first(tmp_path, paper_params):
    """Points that differ only in the fine-tuned variant's settings share their upstream; a
    different seed of the variant trained from scratch is another upstream."""
    scratch, tuned = tuned_or_skip(paper_params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(paper_params, sort_keys=False))
    f = write(tmp_path / "s.txt", "".join(f"b{b}-s{s} models.{tuned}.beta={b} models.{scratch}.seed={s}\n"
                                          for s in (5, 6) for b in (2, 3, 4)))
    points = read_sweep(f)
    waves = in_waves(points, validate_points(f, points, tmp_path / "params.yaml"))
    assert [[p.name for p in w] for w in waves] == [["b2-s5", "b2-s6"], ["b3-s5", "b4-s5"], ["b3-s6", "b4-s6"]]


def test_the_committed_sweep_files_describe_the_committed_tables():
    """Each sweeps/NAME.txt names exactly the experiments of sweeps/NAME.csv, and every setting a
    table records as a column is the value the file sets (or, where the file leaves it, the one
    the other rows share)."""
    for txt in sorted((ROOT / "sweeps").glob("*.txt")):
        rows = list(csv.DictReader(txt.with_suffix(".csv").open()))
        points = {p.name: dict(p.settings) for p in read_sweep(txt)}
        assert sorted(points) == sorted(r["experiment"] for r in rows), txt.name
        params = [k for k in rows[0] if "." in k]
        assert params or len(rows) == 1, txt.name  # one experiment: no setting varies between rows
        for r in rows:
            for k in params:
                if k in points[r["experiment"]]:
                    assert float(points[r["experiment"]][k]) == float(r[k]), (txt.name, r["experiment"], k)
                else:  # left at the baseline's value: the same in every row that leaves it
                    assert len({row[k] for row in rows if k not in points[row["experiment"]]}) == 1, (txt.name, k)


def git_project(tmp_path, paper_params):
    """A git repository with this checkout's params.yaml and dvc.yaml, committed."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text(yaml.safe_dump(paper_params, sort_keys=False))
    (repo / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    (repo / ".dvc").mkdir()
    (repo / ".dvc" / "config").write_text("[core]\n    autostage = true\n")
    for cmd in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"],
                ["add", "-A"], ["commit", "-qm", "project"]):
        run(repo, "git", *cmd)
    return repo


def test_bad_input_is_one_line_before_anything_is_submitted(tmp_path, paper_params, monkeypatch, capsys):
    """No sbatch, no git remote, an unpushed HEAD, no DVC remote, a bad line, two points with one
    name: each refused with one line naming it, and the (fake) sbatch never called."""
    scratch, tuned = tuned_or_skip(paper_params)
    repo = git_project(tmp_path, paper_params)
    monkeypatch.chdir(repo)
    bin_dir, calls = tmp_path / "bin", tmp_path / "sbatch-calls"
    bin_dir.mkdir()
    for tool in ("git",):
        (bin_dir / tool).symlink_to(subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip())
    monkeypatch.setenv("PATH", str(bin_dir))
    sweep = write(repo / "sweeps" / "t.txt", f"t-1 models.{tuned}.beta=2\nt-2 models.{scratch}.seed=9\n")

    def refused(message, args=("--cpus-per-task", "1"), file=sweep):
        with pytest.raises(PipelineError, match=message) as e:
            main(["run", str(file), "--engine", "slurm", *args])
        assert "\n" not in str(e.value) and not calls.exists()

    refused("sbatch is not on PATH")
    write(bin_dir / "sbatch", f"#!/bin/sh\necho called >> {calls}\necho 1\n").chmod(0o755)
    refused("no git remote 'origin'")
    origin = tmp_path / "origin.git"
    run(tmp_path, "git", "init", "-q", "--bare", "-b", "main", origin)
    run(repo, "git", "remote", "add", "origin", origin)
    refused(r"HEAD \(\w{7}\) is not on the git remote origin")
    run(repo, "git", "push", "-q", "origin", "main")
    refused("no default DVC remote in the committed .dvc/config")
    (repo / ".dvc" / "config").write_text("[core]\n    remote = storage\n['remote \"storage\"']\n    url = /nowhere\n")
    run(repo, "git", "commit", "-qam", "remote")
    refused(r"HEAD \(\w{7}\) is not on the git remote origin")  # a new commit, not pushed yet
    run(repo, "git", "push", "-q", "origin", "main")
    if paper_params["runtime"]["threads"] == 0:  # torch's default: the node's cores, so the CPU count must be given
        refused(r"give --cpus-per-task: the points' runtime.threads are \[0\]", args=())
    refused(r"t.txt:1: t-1: runtime.threads 4 is more than --cpus-per-task 2",
            args=("--cpus-per-task", "2"), file=write(sweep, f"t-1 models.{tuned}.beta=2 runtime.threads=4\n"))
    refused(rf"t.txt:2: t-2: models.{tuned}.beta must be", file=write(sweep, f"t-1 models.{tuned}.beta=2\nt-2 models.{tuned}.beta=x\n"))
    refused(r"t.txt:2: two points are named t-1", file=write(sweep, f"t-1 models.{tuned}.beta=2\nt-1 models.{tuned}.beta=3\n"))
    # the local engine validates every line before it queues one (DVC is never asked here)
    with pytest.raises(PipelineError, match=rf"t.txt:2: t-2: models.{tuned}.nois is not a known setting"):
        main(["run", str(write(sweep, f"t-1 models.{tuned}.beta=2\nt-2 models.{tuned}.nois=1\n"))])


# --- a real sweep on a one-node Slurm cluster ------------------------------------------------------

def slurm_or_skip():
    missing = local_slurm.missing()
    if missing:
        if os.environ.get("SHAPES_VAE_REQUIRE_SLURM"):
            pytest.fail(f"Slurm is required here (SHAPES_VAE_REQUIRE_SLURM) but missing: {', '.join(missing)}")
        pytest.skip(f"Slurm missing: {', '.join(missing)} (apt-get install slurmctld slurmd slurm-client munge)")


def task_log(logs, name):
    """(start, end, the last attempt's text) of a task's log (NAME.log, NAME.upstream.log)."""
    text = (logs / f"{name}.log").read_text()
    attempt = text[text.rindex("sweep: start "):]
    start = float(attempt.split()[2])
    end_line = next(line for line in attempt.splitlines() if line.startswith("sweep: end "))
    return start, float(end_line.split()[2]), attempt


def wait_for(env, job_name, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        q = subprocess.run(["squeue", "-h", f"--name={job_name}", "-o", "%i %T"], capture_output=True, text=True, env=env)
        if q.returncode == 0 and not q.stdout.strip():
            return
        time.sleep(2)
    raise AssertionError(f"the sweep's jobs are still queued after {timeout} s")


def lock_outs(project):
    """{output path: md5} of every stage in dvc.lock."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for s in lock.values() for o in s.get("outs", [])}


@pytest.mark.slow
@pytest.mark.system
def test_a_sweep_on_a_slurm_cluster_runs_each_upstream_once_and_equals_a_local_run(tiny_copy, tmp_path):
    slurm_or_skip()
    a = tiny_copy
    params = yaml.safe_load((a / "params.yaml").read_text())
    scratch, tuned = scratch_and_tuned(params)
    if tuned is None:
        pytest.skip("no variant is fine-tuned from another")
    origin, storage = tmp_path / "origin.git", tmp_path / "dvc-storage"
    run(tmp_path, "git", "init", "-q", "--bare", "-b", "main", origin)
    run(a, "git", "remote", "add", "origin", origin)
    dvc(a, "remote", "add", "-d", "storage", storage)
    run(a, "git", "commit", "-qam", "the project's remotes")
    run(a, "git", "push", "-q", "origin", "main")
    # three points over two upstreams (two new seeds of the variant trained from scratch)
    seed, beta = params["models"][scratch]["seed"], params["models"][tuned]["beta"]
    s1, s2, b1, b2 = seed + 100, seed + 200, beta + 1, beta + 2
    points = {f"p-{b1:g}-{s1}": (b1, s1), f"p-{b1:g}-{s2}": (b1, s2), f"p-{b2:g}-{s1}": (b2, s1)}
    sweep = write(a / "sweeps" / "cluster.txt", "".join(f"{n} models.{tuned}.beta={b:g} models.{scratch}.seed={s}\n"
                                                      for n, (b, s) in points.items()))
    shared, alone = [f"p-{b1:g}-{s1}", f"p-{b2:g}-{s1}"], f"p-{b1:g}-{s2}"  # seed s1's two points share their upstream
    later = shared[1]
    threads = params["runtime"]["threads"]
    cpus = ["--cpus-per-task", "1"] if threads in (0, 1) else []
    sweep_cmd = lambda *args, env: run(a, PY, "-m", "shapes_vae.sweep", *args, env=env)
    with local_slurm.cluster(tmp_path / "slurm", cpus=2) as env:
        env = env | {"PATH": f"{Path(PY).parent}{os.pathsep}{env['PATH']}"}
        out = sweep_cmd("run", "sweeps/cluster.txt", "--engine", "slurm", *cpus, env=env).stdout
        assert "1 point(s), 1 upstream(s)" in out and "2 point(s), after" in out, out
        status = sweep_cmd("status", "sweeps/cluster.txt", "--engine", "slurm", env=env).stdout
        assert all(f"{n} " in status for n in points) and ("pending" in status or "running" in status), status
        wait_for(env, "sweep-cluster", timeout=600)
        logs = a / "slurm-logs" / "cluster"
        status = sweep_cmd("status", "sweeps/cluster.txt", "--engine", "slurm", env=env).stdout
        assert status.strip().splitlines()[-1] == "3 done", status + "".join(
            (logs / f"{n}.log").read_text()[-3000:] for n in points if (logs / f"{n}.log").exists())
        tasks = {n: task_log(logs, n) for n in [*points, f"{shared[0]}.upstream"]}
        upstream = tasks[f"{shared[0]}.upstream"]
        for x, y in ((upstream, tasks[alone]), (tasks[shared[0]], tasks[shared[1]])):
            assert x[0] < y[1] and y[0] < x[1], tasks  # the two workers ran these at the same time
        assert all(tasks[n][0] >= upstream[1] for n in shared)  # the shared upstream's points waited for it
        train = f"train@{scratch}"
        for log in (upstream[2], tasks[alone][2]):  # each upstream trained once ...
            assert train in ran(log), log[-3000:]
        for n in shared:  # ... and the points that share one restored it from the DVC remote's run cache
            log = tasks[n][2]
            assert train not in ran(log) and f"Stage '{train}' is cached" in log and f"finetune@{tuned}" in ran(log), log[-3000:]
        on_remote = run(a, "git", "ls-remote", origin, "refs/exps/*").stdout
        assert all(on_remote.count(f"/{n}\n") == 1 for n in points), on_remote
        # a resubmit runs nothing
        again = sweep_cmd("run", "sweeps/cluster.txt", "--engine", "slurm", *cpus, env=env).stdout
        assert "nothing to submit" in again and "job" not in again.replace("python -m", ""), again
        q = subprocess.run(["squeue", "-h", "--name=sweep-cluster"], capture_output=True, text=True, env=env)
        assert q.stdout.strip() == ""

    # the gatherer: a fresh clone pulls the experiments and gathers the sweep's table
    c = tmp_path / "gatherer"
    run(tmp_path, "git", "clone", "-q", origin, c)
    run(c, "git", "config", "user.email", "c@example.com")
    run(c, "git", "config", "user.name", "gatherer")
    write(c / "cluster.txt", sweep.read_text())  # beside, not in sweeps/ (which the report stage reads)
    run(c, PY, "-m", "shapes_vae.sweep", "gather", "cluster.txt", "--pull")
    rows = list(csv.DictReader((c / "cluster.csv").open()))
    assert sorted(r["experiment"] for r in rows) == sorted(points)
    assert (c / "cluster.png").read_bytes().startswith(b"\x89PNG")
    dvc(c, "exp", "apply", later)
    applied = lock_outs(c)
    assert (c / f"models/{tuned}.pt").exists() and "up to date" in dvc(c, "status").stdout

    # the same point run here with dvc exp run, from the baseline's outputs and no run cache
    d = tmp_path / "local"
    run(tmp_path, "git", "clone", "-q", origin, d)
    run(d, "git", "config", "user.email", "d@example.com")
    run(d, "git", "config", "user.name", "local")
    dvc(d, "pull")
    b, s = points[later]
    r = dvc(d, "exp", "run", "-n", "here", "-S", f"models.{tuned}.beta={b:g}", "-S", f"models.{scratch}.seed={s}",
            *(["-S", "runtime.threads=1"] if threads == 0 else []))
    assert {train, f"finetune@{tuned}"} <= ran(r.stdout)  # computed here, not restored
    here = lock_outs(d)
    assert here == applied  # every output, bit for bit (md5)
    assert (d / f"models/{tuned}.pt").read_bytes() == (c / f"models/{tuned}.pt").read_bytes()


def test_status_reads_slurm_queue_the_git_remote_and_each_points_last_attempt(tmp_path, paper_params, monkeypatch, capsys):
    """done: on the git remote; pending/running: Slurm's state of the point's task; failed: its
    last attempt ended with an error or never ended (with the log's path); missing: never run."""
    import json

    repo = git_project(tmp_path, paper_params)
    origin = tmp_path / "origin.git"
    run(tmp_path, "git", "init", "-q", "--bare", "-b", "main", origin)
    run(repo, "git", "remote", "add", "origin", origin)
    commit = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    run(repo, "git", "push", "-q", "origin", f"HEAD:refs/exps/{commit[:2]}/{commit[2:]}/s-done")
    monkeypatch.chdir(repo)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip())
    write(bin_dir / "squeue", "#!/bin/sh\necho '7_0|PENDING'\necho '7_1|RUNNING'\necho '9_0|RUNNING'\n").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    names = ["s-done", "s-pending", "s-running", "s-failed", "s-died", "s-retried", "s-missing"]
    sweep = write(repo / "sweeps" / "st.txt", "".join(f"{n}\n" for n in names))
    logs = repo / "slurm-logs" / "st"
    write(logs / "submitted.json", json.dumps([{"job": "6", "points": ["s-failed", "s-died", "s-retried"]},
                                               {"job": "7", "points": ["s-pending", "s-running"]}]))
    start, end = "sweep: start 1.0 job 6_0 node n cpus 1\n", "sweep: end 2.0 exit {}\n"
    write(logs / "s-failed.log", start + "ERROR: boom\n" + end.format(2))
    write(logs / "s-died.log", start + "killed\n")
    write(logs / "s-retried.log", start + end.format(1) + start + end.format(0))
    main(["status", str(sweep), "--engine", "slurm"])
    lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert lines["s-done"] == ["done"] and lines["s-missing"] == ["missing"]
    assert lines["s-pending"] == ["pending", "slurm-logs/st/s-pending.log"]
    assert lines["s-running"] == ["running", "slurm-logs/st/s-running.log"]
    assert lines["s-failed"] == ["failed", "slurm-logs/st/s-failed.log"] and lines["s-died"][0] == "failed"
    assert lines["s-retried"][0] == "missing"  # its last attempt succeeded but it is not on the remote
    assert lines["1"] == ["done,", "1", "running,", "1", "pending,", "2", "failed,", "2", "missing"]


def test_each_task_runs_torch_on_exactly_its_cpus():
    """runtime.threads 0 (every core of the node) becomes the task's CPU count, recorded as a
    setting; fewer threads than CPUs stay; more are refused; without --cpus-per-task the points
    must agree on a positive count."""
    from shapes_vae.slurm import thread_counts
    from shapes_vae.sweep import Point

    points = [Point(f"t{t}", (("runtime.threads", str(t)),) if t else (), i + 1) for i, t in enumerate((0, 1, 2))]
    valid = {p.name: {"runtime": {"threads": int(p.name[1:])}} for p in points}
    cpus, lines = thread_counts("s.txt", points, valid, 2)
    assert cpus == 2 and lines == {"t0": "t0 runtime.threads=2", "t1": "t1 runtime.threads=1", "t2": "t2 runtime.threads=2"}
    with pytest.raises(PipelineError, match=r"s.txt:3: t2: runtime.threads 2 is more than --cpus-per-task 1"):
        thread_counts("s.txt", points, valid, 1)
    with pytest.raises(PipelineError, match=r"give --cpus-per-task: the points' runtime.threads are \[0, 1, 2\]"):
        thread_counts("s.txt", points, valid, None)
    same = points[2:]
    assert thread_counts("s.txt", same, valid, None) == (2, {"t2": "t2 runtime.threads=2"})


def test_gather_takes_exactly_the_files_points_and_writes_beside_it(tmp_path, monkeypatch):
    """Only the points the file names (not every name a glob would match), the table named after
    the file, no plot when only seeds vary, and a refusal while a point has not finished unless
    --partial."""
    from shapes_vae import gather

    def experiment(name, beta, seed, bce):
        params = {"models": {"standard": {"init": "scratch", "seed": seed}, "modified": {"init": "standard", "beta": beta}}}
        return {"revs": [{"rev": f"{name:0<40}", "name": name, "error": None, "data": {
            "params": {"params.yaml": {"data": params}},
            "metrics": {"metrics/modified.json": {"data": {"test_bce": bce, "recon_nats": 80.0}},
                        "metrics/information/modified.json": {"data": {"rate_bits_upper_bound": 5.0}}}}}],
            "executor": {"state": "success"}}

    doc = [{"rev": "abcdef1234567890", "experiments": [
        experiment("b-2-s-1", 2, 1, 0.1), experiment("b-2-s-11", 2, 11, 0.2), experiment("b-2-s-1-old", 2, 1, 0.3)]}]
    monkeypatch.setattr(gather, "exp_show_json", lambda *a, **k: doc)
    monkeypatch.chdir(tmp_path)
    other = write(tmp_path / "sweeps" / "beta.csv", "another sweep's table\n")
    sweep = write(tmp_path / "sweeps" / "seeds.txt", "b-2-s-1 models.standard.seed=1\nb-2-s-11 models.standard.seed=11\n"
                                                     "b-2-s-21 models.standard.seed=21\n")
    with pytest.raises(PipelineError, match=r"seeds.txt: 1 of 3 points have not finished \(b-2-s-21\).*--partial"):
        main(["gather", str(sweep)])
    assert not (tmp_path / "sweeps" / "seeds.csv").exists()
    main(["gather", str(sweep), "--partial"])
    rows = list(csv.DictReader((tmp_path / "sweeps" / "seeds.csv").open()))
    assert [(r["experiment"], r["modified_test_bce"]) for r in rows] == [("b-2-s-1", "0.1"), ("b-2-s-11", "0.2")]
    assert not (tmp_path / "sweeps" / "seeds.png").exists()  # only seeds vary: one point, no plot
    assert other.read_text() == "another sweep's table\n"
