"""One optimisation step, and the seeded order of an epoch's mini-batches."""
import torch

from shapes_vae.objectives import vae_loss


def epoch_batches(n, batch_size, generator):
    """Index tensors of a seeded shuffle of 0..n-1, batch_size at a time (last one smaller)."""
    return torch.randperm(n, generator=generator).split(batch_size)


def train_step(model, optimizer, x, beta, noise_sigma, generator):
    logits, mu, logvar, _ = model(x, noise_sigma, generator)
    total, recon, kl = vae_loss(logits, x, mu, logvar, beta)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return total.detach(), recon.detach(), kl.detach()
