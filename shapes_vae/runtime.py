"""Where and how torch runs: the device (`runtime.device`), the CPU thread count, and seeded
random streams.

Shared by every stage that runs a model; both settings can change results in the last bits, so
the stages that call this declare runtime.device and runtime.threads as params.
"""
import ctypes
import ctypes.util
import hashlib
import os
import sys

# cuBLAS repeats its results only with a fixed workspace, and reads this when CUDA starts: set it
# before anything can start CUDA (a no-op on the CPU; a user's own setting wins).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402

from shapes_vae.errors import PipelineError


def select_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        raise PipelineError("params.yaml: runtime.device is cuda, but no CUDA device is available")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seeded_generator(device, *keys):
    """A generator on `device` whose seed depends on the keys alone (not on earlier draws)."""
    seed = int.from_bytes(hashlib.sha256(repr(keys).encode()).digest()[:8], "little")
    return torch.Generator(device=device).manual_seed(seed)


def keep_freed_memory():
    """Have glibc's malloc keep freed blocks of up to 32 MiB for reuse instead of returning them.

    Why: a CPU training step allocates and frees the same 1-14 MB activation and gradient
    buffers every batch. glibc's default (a mmap threshold and a trim threshold that move with
    what was freed last) can hand them back to the kernel, so the next step page-faults them in
    and the kernel zeroes every page again (the benchmark prints `*_faults_per_step`; README,
    Performance, has the measurements). With the mmap
    threshold fixed at 32 MiB (the ceiling of glibc's own moving threshold on 64-bit) and a 1 GiB
    trim threshold they stay mapped; blocks above 32 MiB are still mapped afresh.
    Values computed are unchanged; peak memory stays the step's working set. A no-op off glibc.
    Returns whether the settings were applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False


def deterministic_algorithms():
    """torch.use_deterministic_algorithms(True, warn_only=True) without its other effect: it also
    imports torch._inductor's config (to make torch.compile deterministic, which nothing here
    uses), an import as slow as importing torch itself (README, Performance). Falls back to the
    public call if torch drops the private setter."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        setter(True, warn_only=True)


def configure_torch(runtime):
    """Thread count, deterministic kernels and malloc reuse; returns the device to use."""
    keep_freed_memory()
    if runtime["threads"] > 0:
        torch.set_num_threads(runtime["threads"])
    deterministic_algorithms()
    torch.backends.cudnn.benchmark = False  # cuDNN's autotuner may pick other kernels run to run
    # Deterministic mode also fills every new uninitialised tensor with NaN, a debugging aid that
    # costs a write pass over each one (a few percent of a CPU training step: README, Performance).
    # Nothing here reads memory it has not written; tests/test_model.py checks the fast
    # layers with the fill on.
    torch.utils.deterministic.fill_uninitialized_memory = False
    return select_device(runtime["device"])
