"""The plain PyTorch VAE, written the obvious way: the speed baseline and the tests' reference.

Same architecture, parameter names and Keras alignment as shapes_vae.model.VAE (so state_dicts
load across), but with stock layers: F.pad + nn.Conv2d for the stride-2 'same' convolution,
nn.ConvTranspose2d then a crop for the stride-2 transposed one, float32, default memory format,
and a torch DataLoader over a TensorDataset for the batches.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from shapes_vae.objectives import vae_loss


class BaselineVAE(nn.Module):
    def __init__(self, latent_dim=8, channels=(32, 64), hidden=16, image_size=28):
        super().__init__()
        c1, c2 = channels
        self.feature_shape = (c2, image_size // 4, image_size // 4)
        n_features = c2 * (image_size // 4) ** 2
        self.enc_conv1 = nn.Conv2d(1, c1, 3, stride=2)
        self.enc_conv2 = nn.Conv2d(c1, c2, 3, stride=2)
        self.enc_dense = nn.Linear(n_features, hidden)
        self.enc_mu = nn.Linear(hidden, latent_dim)
        self.enc_logvar = nn.Linear(hidden, latent_dim)
        self.dec_dense = nn.Linear(latent_dim, n_features)
        self.dec_deconv1 = nn.ConvTranspose2d(c2, c2, 3, stride=2)
        self.dec_deconv2 = nn.ConvTranspose2d(c2, c1, 3, stride=2)
        self.dec_out = nn.ConvTranspose2d(c1, 1, 3, stride=1, padding=1)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x, noise_sigma=0.0, generator=None):
        pad = lambda t: F.pad(t, (0, 1, 0, 1))  # Keras: the odd 'same' padding pixel goes last
        crop = lambda t, h, w: t[..., : 2 * h, : 2 * w]  # Keras keeps rows/cols 0 .. 2n-1
        h = F.relu(self.enc_conv1(pad(x)))
        h = F.relu(self.enc_conv2(pad(h)))
        h = F.relu(self.enc_dense(h.flatten(1)))
        mu, logvar = self.enc_mu(h), self.enc_logvar(h)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        zd = z + noise_sigma * torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device) if noise_sigma > 0 else z
        h = F.relu(self.dec_dense(zd)).view(-1, *self.feature_shape)
        h = F.relu(crop(self.dec_deconv1(h), *h.shape[-2:]))
        h = F.relu(crop(self.dec_deconv2(h), *h.shape[-2:]))
        return self.dec_out(h), mu, logvar, z


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
