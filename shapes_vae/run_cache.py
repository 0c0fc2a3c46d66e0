"""DVC's run cache through a DVC remote, git-tracked outputs included.

    python -m shapes_vae.run_cache push     # dvc push --run-cache, and the objects it leaves out
    python -m shapes_vae.run_cache pull     # dvc fetch --run-cache, and the same objects

A stage's git-tracked outputs (`cache: false`: this project's metrics, logs and figures) are kept
in the local cache for the run cache when the stage runs, but `dvc push --run-cache` sends only
the run-cache entries and the outputs DVC caches, and `dvc exp run --pull` fetches only those. On
another machine the entry is found, its git-tracked outputs are not, and the stage runs again.
These two commands send and fetch those objects too, so a stage run on one machine is restored on
any other that shares the DVC remote. Only the DVC remote's ordinary objects are used.
"""
import sys
from pathlib import Path

import yaml

from shapes_vae.errors import ArgumentParser, PipelineError, run_stage


def _git_tracked_outputs(repo):
    """Paths of the pipeline's outputs that DVC does not cache (cache: false)."""
    return {out.def_path for stage in repo.index.stages for out in stage.outs if not out.use_cache}


def _objects(repo):
    """The objects of the run-cache entries' git-tracked outputs."""
    from dvc_data.hashfile.hash_info import HashInfo

    wanted, objs = _git_tracked_outputs(repo), set()
    for entry in Path(repo.stage_cache.cache_dir).glob("*/*/*"):
        for out in (yaml.safe_load(entry.read_text()) or {}).get("outs") or []:
            if out.get("path") in wanted and out.get("md5"):
                objs.add(HashInfo("md5" if out.get("hash") == "md5" else "md5-dos2unix", out["md5"]))
    return objs


def _with_files(repo, objs):
    """The objects and, for each directory object in the local cache, the files it lists (a
    transfer sends only the objects it is given)."""
    from dvc_data.hashfile.tree import Tree
    from dvc_objects.errors import ObjectFormatError

    out = set(objs)
    for o in objs:
        if o.isdir:
            try:
                out |= {oid for _, _, oid in Tree.load(_cache(repo, o), o)}
            except (FileNotFoundError, ObjectFormatError):
                pass
    return out


def _cache(repo, obj):
    return repo.cache.local if obj.name == "md5" else repo.cache.legacy


def push(remote=None):
    from dvc.repo import Repo

    with Repo(".") as repo:
        objs = {o for o in _with_files(repo, _objects(repo)) if _cache(repo, o).exists(o.value)}
        result = repo.cloud.push(objs, remote=remote)  # first: a failed run's workspace may lack an output
        repo.push(remote=remote, run_cache=True)
    return len(result.transferred)


def pull(remote=None):
    from dvc.repo import Repo

    with Repo(".") as repo:
        repo.fetch(remote=remote, run_cache=True)
        objs = _objects(repo)
        repo.cloud.pull({o for o in objs if o.isdir}, remote=remote)  # the directory listings first
        result = repo.cloud.pull(_with_files(repo, objs), remote=remote)
    return len(result.transferred)


def main(argv):
    ap = ArgumentParser(prog="python -m shapes_vae.run_cache", description=__doc__.splitlines()[0])
    ap.add_argument("direction", choices=("push", "pull"))
    ap.add_argument("-r", "--remote", help="a DVC remote's name (default: the project's default remote)")
    args = ap.parse_args(argv)
    from dvc.exceptions import DvcException

    try:
        n = (push if args.direction == "push" else pull)(args.remote)
    except DvcException as e:
        raise PipelineError(f"run cache {args.direction}: {e}") from None
    print(f"run cache {args.direction}: {n} git-tracked output object(s) {'sent' if args.direction == 'push' else 'fetched'}",
          file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
