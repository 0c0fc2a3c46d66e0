"""Writing outputs atomically and reading inputs with clear errors.

Every output is written to a temporary file in the same directory and renamed into place, so
an interrupted stage never leaves a truncated file under the final name.
"""
import contextlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from shapes_vae.errors import PipelineError


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


def write_bytes(path, data):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path, obj):
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


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
