"""Is the committed dvc.lock current? `dvc status`, restricted to what a fresh clone has.

A fresh clone has no data or models (DVC outputs in the cache), so `dvc status` always reports
them; those entries say nothing about the lock. What matters is every git-tracked dependency or
output, every param and every command that differs from what dvc.lock recorded: then the
committed metrics do not describe the committed code.
"""
import json
import subprocess


def dvc_status(repo, dvc="dvc", env=None):
    """`dvc status --json` as {stage: changes} ({} when everything is current); raises
    RuntimeError with dvc's message when it fails."""
    r = subprocess.run([dvc, "status", "--json"], cwd=repo, capture_output=True, text=True, env=env)
    if r.returncode:
        raise RuntimeError(f"dvc status failed: {r.stderr.strip()}")
    return json.loads(r.stdout or "{}")


def stale_entries(repo, dvc="dvc"):
    """Lines like 'evaluate@standard: params.yaml evaluate modified'; empty when the lock is current."""
    tracked = set(subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True,
                                 check=True).stdout.splitlines())
    try:
        status = dvc_status(repo, dvc)
    except RuntimeError as e:
        return [str(e)]
    stale = []
    for stage, changes in status.items():
        for change in changes:
            if isinstance(change, str):  # "changed command", "always changed", ...
                stale.append(f"{stage}: {change}")
                continue
            for kind, paths in change.items():
                for path, status in paths.items():
                    if isinstance(status, dict):  # a params file: {key: modified | new | deleted}
                        stale += [f"{stage}: {path} {k} {v}" for k, v in status.items()]
                    elif path in tracked or status == "new":
                        stale.append(f"{stage}: {kind} {path} {status}")
    return stale
