"""Which implementation of the paper's VAE a run uses: runtime.backend.

- plain: shapes_vae.model.VAE, stock PyTorch layers, any device.
- fast_cpu: shapes_vae.fast_cpu.FastCPUVAE, the same function and parameters, faster on the CPU;
  it implements exactly the paper's architecture keys (two conv levels), on the CPU only.
- auto: fast_cpu where it supports the device and the architecture, plain otherwise.
Asking for fast_cpu where it cannot run is an error, never a silent fallback.
"""
import torch

from shapes_vae.errors import PipelineError
from shapes_vae.fast_cpu import FastCPUVAE
from shapes_vae.model import VAE
from shapes_vae.params import BACKENDS  # the runtime.backend choices, declared with the other settings
FAST_CPU_ARCHITECTURE_KEYS = ("latent_dim", "channels", "hidden")


def fast_cpu_refusal(architecture, image_size, device):
    """Why FastCPUVAE cannot run this configuration, or None if it can."""
    device_type = torch.device(device).type  # a name only: does not initialise CUDA
    if device_type != "cpu":
        return f"it runs on the CPU only (device {device_type})"
    unknown = sorted(set(architecture) - set(FAST_CPU_ARCHITECTURE_KEYS))
    if unknown:
        return f"it does not implement architecture.{unknown[0]}"
    channels = architecture.get("channels", (32, 64))
    if len(channels) != 2:
        return f"it implements two conv levels only (architecture.channels is {list(channels)})"
    if image_size % 4:
        return f"it needs an image size that is a multiple of 4 (got {image_size})"
    return None


def choose_backend(backend, architecture, image_size, device):
    """"plain" or "fast_cpu" for runtime.backend `backend`; PipelineError if it cannot run.
    Decided from names alone: builds nothing and does not initialise CUDA."""
    if backend not in BACKENDS:
        raise PipelineError(f"runtime.backend is {backend!r}, expected one of {', '.join(BACKENDS)}")
    refusal = fast_cpu_refusal(architecture, image_size, device)
    if backend == "fast_cpu" and refusal:
        raise PipelineError(f"runtime.backend is fast_cpu, but {refusal}")
    return "plain" if backend == "plain" or refusal else "fast_cpu"


def build_vae(architecture, image_size, backend="auto", device="cpu"):
    """The VAE that `architecture` (e.g. {"latent_dim": 8, "channels": [32, 64], "hidden": 16})
    describes, in the form runtime.backend asks for, on `device`."""
    cls = FastCPUVAE if choose_backend(backend, architecture, image_size, device) == "fast_cpu" else VAE
    arch = dict(architecture)
    if "channels" in arch:
        arch["channels"] = tuple(arch["channels"])
    try:
        model = cls(**arch, image_size=image_size)
    except (TypeError, ValueError) as e:  # an unknown key, a channels list the model cannot take
        raise PipelineError(f"architecture {architecture} does not fit the VAE ({e})") from None
    return model.to(device)
