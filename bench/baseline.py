"""The speed baseline: the paper's VAE trained the obvious way.

The model is the package's plain one (shapes_vae.model.VAE: stock layers, float32, default
memory format); the input pipeline is a torch DataLoader over a TensorDataset, and the step
zeroes the gradients and reads the losses back with .item() every batch.
"""
import torch
from torch.utils.data import DataLoader, TensorDataset

from shapes_vae.model import VAE
from shapes_vae.objectives import vae_loss


def baseline_model(device):
    """The paper's VAE as the package writes it plainly, as it comes: float32, NCHW."""
    return VAE().to(device)


def baseline_loader(images, batch_size=128, seed=0):
    """The obvious input pipeline: DataLoader over a TensorDataset, shuffled each epoch."""
    return DataLoader(TensorDataset(images), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))


def baseline_step(model, optimizer, x, beta=1.0, noise_sigma=0.0, generator=None):
    optimizer.zero_grad()
    logits, mu, logvar, _ = model(x, noise_sigma, generator)
    loss, recon, kl = vae_loss(logits, x, mu, logvar, beta)
    loss.backward()
    optimizer.step()
    return loss.item(), recon.item(), kl.item()
