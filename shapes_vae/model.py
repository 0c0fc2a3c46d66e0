"""The paper's convolutional VAE, in Keras' alignment, with stock PyTorch layers.

The paper's model is Keras code, and two Keras 'same' layers align differently from PyTorch's
padding=1: a stride-2 convolution pads only the bottom/right (TensorFlow puts the odd padding
pixel last), and a stride-2 transposed convolution keeps output rows/columns 0 .. 2n-1 of the
full 2n+1. Both are written out below. Weights start as Keras' do: Glorot-uniform, zero biases.

This is the reference form. shapes_vae.fast_cpu computes the same function faster on the CPU,
and shapes_vae.backends picks between the two (runtime.backend).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def reparameterize(mu, logvar, eps):
    """The posterior sample for standard-normal noise eps."""
    return mu + torch.exp(0.5 * logvar) * eps


def at_least_float32(t):
    """t in float32 if it is narrower (autocast's bfloat16), else unchanged (float64 stays)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


class VAE(nn.Module):
    def __init__(self, latent_dim=8, channels=(32, 64), hidden=16, image_size=28):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        c1, c2 = channels
        self.latent_dim, self.image_size = latent_dim, image_size
        self.feature_shape = (c2, image_size // 4, image_size // 4)
        n_features = c2 * (image_size // 4) ** 2
        # encoder: 28 -> 14 -> 7, then a small dense bottleneck with two linear heads
        self.enc_conv1 = nn.Conv2d(1, c1, 3, stride=2)  # padded bottom/right in encode
        self.enc_conv2 = nn.Conv2d(c1, c2, 3, stride=2)
        self.enc_dense = nn.Linear(n_features, hidden)
        self.enc_mu = nn.Linear(hidden, latent_dim)
        self.enc_logvar = nn.Linear(hidden, latent_dim)
        # decoder: mirror image, 7 -> 14 -> 28, then a stride-1 transposed conv to one channel of logits
        self.dec_dense = nn.Linear(latent_dim, n_features)
        self.dec_deconv1 = nn.ConvTranspose2d(c2, c2, 3, stride=2)  # cropped in decode
        self.dec_deconv2 = nn.ConvTranspose2d(c2, c1, 3, stride=2)
        self.dec_out = nn.ConvTranspose2d(c1, 1, 3, stride=1, padding=1)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x):
        """x: (N, 1, H, W) in [0, 1] -> (mu, logvar), each (N, latent_dim)."""
        h = F.relu(self.enc_conv1(F.pad(x, (0, 1, 0, 1))))  # Keras: the odd padding pixel goes last
        h = F.relu(self.enc_conv2(F.pad(h, (0, 1, 0, 1))))
        h = F.relu(self.enc_dense(h.flatten(1)))
        # float32 under autocast too: the loss and the sampling want full precision
        return at_least_float32(self.enc_mu(h)), at_least_float32(self.enc_logvar(h))

    def decode(self, z):
        """z: (N, latent_dim) -> logits (N, 1, H, W); sigmoid(logits) is the pixel probability."""
        h = F.relu(self.dec_dense(z)).view(-1, *self.feature_shape)
        n = h.shape[-1]
        h = F.relu(self.dec_deconv1(h)[..., : 2 * n, : 2 * n])  # Keras keeps rows/cols 0 .. 2n-1
        h = F.relu(self.dec_deconv2(h)[..., : 4 * n, : 4 * n])
        return at_least_float32(self.dec_out(h))

    def forward(self, x, noise_sigma=0.0, generator=None):
        """Encode, sample z = mu + sigma * eps, optionally add N(0, noise_sigma^2), decode.

        The extra noise is the modified VAE's noisy channel; callers pass noise_sigma > 0 in
        training only. Returns (logits, mu, logvar, z) where z is the sample before the extra noise.
        """
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = reparameterize(mu, logvar, eps)
        z_decoded = z
        if noise_sigma > 0:
            noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
            z_decoded = z + noise_sigma * noise
        return self.decode(z_decoded), mu, logvar, z
