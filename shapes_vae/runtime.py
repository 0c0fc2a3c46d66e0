"""Where and how torch runs: the device (`runtime.device`), the CPU thread count, and seeded
random streams.

Shared by every stage that runs a model; both settings can change results in the last bits, so
the stages that call this declare runtime.device and runtime.threads as params.
"""
import hashlib

import torch

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


def configure_torch(runtime):
    """Thread count and deterministic kernels; returns the device to use."""
    if runtime["threads"] > 0:
        torch.set_num_threads(runtime["threads"])
    torch.use_deterministic_algorithms(True, warn_only=True)
    return select_device(runtime["device"])
