"""Model checkpoints: the state dict plus the params that made it, loaded without pickle.

A checkpoint holds only tensors, strings, numbers, lists and dicts, so torch.load(...,
weights_only=True) reads it: a checkpoint a user is handed cannot run code on load.
"""
import io
from pathlib import Path

import torch

from shapes_vae.errors import PipelineError
from shapes_vae.io import write_bytes
from shapes_vae.model import VAE

FORMAT = "shapes-vae-checkpoint-1"


def build_model(architecture, image_size):
    return VAE(architecture["latent_dim"], tuple(architecture["channels"]), architecture["hidden"], image_size)


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


def torch_bytes(obj):
    """torch.save into memory: saved to a file, torch names the archive's root folder after the
    file, and our temp file names are random; in memory the bytes depend on the content alone."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def read_checkpoint(path, fmt=FORMAT, model=""):
    """The dict saved at path, loaded without pickle, checked to be of format `fmt`. `model` names
    what the file should hold in the errors ("classifier"); empty for a VAE checkpoint."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: {model or 'checkpoint'} not found (train it first: dvc repro)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, not a torch file, a pickle of arbitrary objects ...
        raise PipelineError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise PipelineError(f"{path}: not a shapes-vae {model + ' ' if model else ''}checkpoint (format {fmt} expected)")
    return state


def load_checkpoint(path, architecture=None, image_size=None, device="cpu"):
    """Rebuild the model a checkpoint holds. If `architecture` / `image_size` are given, they
    must match the checkpoint's (e.g. the current params): a mismatch names the file and key."""
    state = read_checkpoint(path)
    arch = state["architecture"]
    if architecture is not None:
        for k in architecture:
            if arch.get(k) != architecture[k]:
                raise PipelineError(
                    f"{path}: checkpoint has architecture.{k} = {arch.get(k)}, params ask for {architecture[k]}"
                )
    if image_size is not None and state["image_size"] != image_size:
        raise PipelineError(f"{path}: checkpoint is for {state['image_size']}-pixel images, data has {image_size}")
    model = build_model(arch, state["image_size"])
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise PipelineError(f"{path}: weights do not fit the model its params describe ({first})") from None
    return model.to(device), state
