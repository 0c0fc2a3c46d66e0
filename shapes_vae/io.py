"""Writing outputs atomically and reading inputs with clear errors.

Every output is written to a temporary file in the same directory and renamed into place, so
an interrupted stage never leaves a truncated file under the final name.
"""
import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from shapes_vae.errors import PipelineError

# torch is imported inside the functions that need it, so the stages that write no tensors start fast


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success fsync it and rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def staged_outputs(*outputs):
    """Commit a stage's outputs whole: yield `staged(path)`, which maps each final output (a file or
    a directory, relative to the working directory) to a place in a temporary folder beside them;
    when the block ends without an error, move every output there into place, one after another
    with nothing left to compute. On an error nothing is moved: the last run's outputs all stay.
    The temporary folder (.staged-*, ignored by git and DVC) is removed either way."""
    tmp = Path(tempfile.mkdtemp(prefix=".staged-", dir="."))
    try:
        yield lambda path: tmp / path
        for out in map(Path, outputs):
            src = tmp / out
            if src.is_dir():
                _replace_dir(src, out)
            elif src.exists():
                out.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_dir(src, dest):
    """dest becomes src: the old folder is renamed aside first, then deleted."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=".staged-old-", dir="."))
        os.replace(dest, old / "d")
    os.replace(src, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_bytes(path, data):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path, obj):
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_metrics(path, measures):
    """A stage's metrics file: {name: number}, the measures that apply (a None, a measure that does
    not apply, is left out, not written as null). Settings, counts of the data and per-dimension
    records belong in params.yaml, metrics/data.json and the stages' plot files: `dvc metrics` and
    `dvc exp show` drop lists, dicts and strings silently, and a constant widens every table."""
    kept = {k: v for k, v in measures.items() if v is not None}
    for k, v in kept.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise PipelineError(f"{path}: {k} is {v!r}, not a finite number (a metrics file holds measurements only)")
    write_json(path, kept)


def save_npz(path, arrays):
    """A compressed .npz that np.load reads, with fixed zip timestamps, so equal arrays give
    equal bytes (np.savez stamps the current time into the archive)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    write_bytes(path, buf.getvalue())


def load_npz(path, required):
    """Load arrays from an .npz written by save_npz. `required` maps name -> (dtype kind, ndim),
    e.g. {"images": ("u", 3)}; anything missing, damaged or of the wrong kind is a PipelineError."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: file not found (run the stage that makes it: dvc repro)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as e:  # zipfile.BadZipFile, ValueError, EOFError, OSError ...
        raise PipelineError(f"{path}: not a readable .npz archive ({type(e).__name__}: {e})") from None
    for name, (kind, ndim) in required.items():
        if name not in arrays:
            raise PipelineError(f"{path}: array '{name}' is missing")
        a = arrays[name]
        if a.dtype.kind != kind or a.ndim != ndim:
            raise PipelineError(
                f"{path}: array '{name}' has dtype {a.dtype} and {a.ndim} dimensions, "
                f"expected kind '{kind}' with {ndim}"
            )
    return arrays


def read_json(path):
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found (run the stage that makes it: dvc repro)") from None
    except (ValueError, OSError) as e:
        raise PipelineError(f"{path}: not readable JSON ({e})") from None


def write_csv_log(path, columns, rows):
    """A per-epoch CSV log: the epoch number, then every value with 6 decimals."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([r[0]] + [f"{v:.6f}" for v in r[1:]])
    write_bytes(path, buf.getvalue().encode())


def torch_bytes(obj):
    """torch.save into memory: saved to a file, torch names the archive's root folder after the
    file, and our temp file names are random; in memory the bytes depend on the content alone."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def read_torch_file(path, fmt, what):
    """The dict saved at path, loaded without pickle (weights_only), checked to be of format `fmt`;
    `what` names the file's content in the errors ("checkpoint", "classifier")."""
    import torch

    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: {what} not found (train it first: dvc repro)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, not a torch file, a pickle of arbitrary objects ...
        raise PipelineError(f"{path}: not a readable {what} ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise PipelineError(f"{path}: not a shapes-vae {what} (format {fmt} expected)")
    return state
