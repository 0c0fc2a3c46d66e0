"""VAE checkpoints: the state dict plus the params that made it, loaded without pickle.

A checkpoint holds only tensors, strings, numbers, lists and dicts, so torch.load(...,
weights_only=True) reads it: a checkpoint a user is handed cannot run code on load.
"""
from pathlib import Path

from shapes_vae.backends import build_vae
from shapes_vae.errors import PipelineError
from shapes_vae.io import read_torch_file, torch_bytes, write_bytes

FORMAT = "shapes-vae-checkpoint-1"


def save_checkpoint(path, model, name, architecture, config):
    state = {
        "format": FORMAT,
        "model": name,
        "architecture": dict(architecture),
        "image_size": model.image_size,
        "config": dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    write_bytes(path, torch_bytes(state))


def load_checkpoint(path, architecture=None, image_size=None, device="cpu", backend="auto"):
    """Rebuild the model a checkpoint holds, with the given backend (runtime.backend). If
    `architecture` / `image_size` are given, they must match the checkpoint's (e.g. the current
    params): a mismatch names the file and key."""
    path = Path(path)
    state = read_torch_file(path, FORMAT, "checkpoint")
    arch = state["architecture"]
    if architecture is not None:
        for k in architecture:
            if arch.get(k) != architecture[k]:
                raise PipelineError(
                    f"{path}: checkpoint has architecture.{k} = {arch.get(k)}, params ask for {architecture[k]}"
                )
    if image_size is not None and state["image_size"] != image_size:
        raise PipelineError(f"{path}: checkpoint is for {state['image_size']}-pixel images, data has {image_size}")
    model = build_vae(arch, state["image_size"], backend, "cpu")
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise PipelineError(f"{path}: weights do not fit the model its params describe ({first})") from None
    return model.to(device), state
