"""One optimisation step and the epoch's batch order, kept free of per-batch Python overhead.

The trainer calls these for every batch, so: no .item() (it would force a sync and a Python
float per batch; the caller accumulates the returned tensors), gradients freed rather than
zeroed (which skips a memset of every parameter), and batches are index tensors into a
resident data tensor instead of a DataLoader (which collates 128 single-image tensors per batch).
"""
import torch

from shapes_vae.objectives import vae_loss
from shapes_vae.params import PRECISIONS


def train_step(model, optimizer, x, beta, noise_sigma, generator, precision="float32"):
    """Forward, loss, backward and optimizer step on batch x; returns detached batch means
    (total, recon, kl).

    precision "bfloat16" (runtime.train_precision) runs the forward, and so the backward, under
    bfloat16 autocast: convolutions and matrix products in bfloat16. The weights, the optimizer
    and the loss stay float32, and the model returns the latent statistics and logits in float32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be {' or '.join(PRECISIONS)}, got {precision!r}")
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
        logits, mu, logvar, _ = model(x, noise_sigma, generator)
    total, recon, kl = vae_loss(logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return total.detach(), recon.detach(), kl.detach()


def epoch_batches(n, batch_size, generator):
    """Index tensors of one seeded shuffle of range(n), in batches (the last may be short)."""
    return torch.randperm(n, generator=generator).split(batch_size)

