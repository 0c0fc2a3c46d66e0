"""Where and how torch runs: the device (`runtime.device`) and the CPU thread count.

Shared by every stage that runs a model; both settings can change results in the last bits, so
the stages that call this declare runtime.device and runtime.threads as params.
"""
import torch

from shapes_vae.errors import PipelineError


def select_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        raise PipelineError("params.yaml: runtime.device is cuda, but no CUDA device is available")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def configure_torch(runtime):
    """Thread count and deterministic kernels; returns the device to use."""
    if runtime["threads"] > 0:
        torch.set_num_threads(runtime["threads"])
    torch.use_deterministic_algorithms(True, warn_only=True)
    return select_device(runtime["device"])
