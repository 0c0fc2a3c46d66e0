"""The paper's convolutional VAE, with Keras' 'same' padding alignment.

Keras pads a stride-2 'same' convolution only on the bottom/right (TensorFlow puts the odd
padding pixel last), whereas PyTorch's padding=1 pads both sides; the two give differently
aligned feature maps. We reproduce Keras exactly: pad (0, 1, 0, 1) then convolve, and for the
transposed convolution keep output rows/columns 0 .. 2n-1 of the full (2n+1)-wide result.
Weights use Keras' defaults too: Glorot-uniform kernels, zero biases.

Memory format: on CPU the convolutions run through shapes_vae.fast_layers, which keeps
activations channels_last (NHWC) and computes the same functions faster (see that module).
Inputs may be in any layout; outputs of the conv layers are channels_last, which only changes
strides, never values or shapes. Parameters and state_dict keys are those of the plain layers.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from shapes_vae import fast_layers


class SameConv2dReLU(nn.Conv2d):
    """Conv2d, kernel 3, stride 2, Keras 'same' padding, then ReLU: (H, W) -> (H/2, W/2)."""

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x):
        if x.device.type != "cpu":  # the fast forms are for CPU; cuDNN is fast with the plain one
            return F.relu(super().forward(F.pad(x, (0, 1, 0, 1))))
        return fast_layers.same_conv2d_relu(x, self.weight, self.bias)


class SameConvTranspose2dReLU(nn.ConvTranspose2d):
    """ConvTranspose2d, kernel 3, stride 2, Keras 'same' padding, then ReLU: (H, W) -> (2H, 2W).

    Output pixel y receives input i through kernel tap k where y = 2i + k (k = 0, 1, 2); the
    full result is 2H + 1 wide and Keras drops the last row and column.
    """

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x):
        if x.device.type != "cpu":  # the fast forms are for CPU; cuDNN is fast with the plain one
            h, w = x.shape[-2:]
            return F.relu(super().forward(x)[..., : 2 * h, : 2 * w])
        return fast_layers.same_conv_transpose2d_relu(x, self.weight, self.bias)


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
        self.enc_conv1 = SameConv2dReLU(1, c1)
        self.enc_conv2 = SameConv2dReLU(c1, c2)
        self.enc_dense = nn.Linear(n_features, hidden)
        self.enc_mu = nn.Linear(hidden, latent_dim)
        self.enc_logvar = nn.Linear(hidden, latent_dim)
        # decoder: mirror image, 7 -> 14 -> 28, a stride-1 transposed conv to one channel of logits
        self.dec_dense = nn.Linear(latent_dim, n_features)
        self.dec_deconv1 = SameConvTranspose2dReLU(c2, c2)
        self.dec_deconv2 = SameConvTranspose2dReLU(c2, c1)
        # stride 1, kernel 3, 'same' = symmetric padding 1 in both frameworks
        self.dec_out = fast_layers.ConvTranspose2d(c1, 1, kernel_size=3, stride=1, padding=1)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x):
        """x: (N, 1, H, W) in [0, 1] -> (mu, logvar), each (N, latent_dim)."""
        h = self.enc_conv2(self.enc_conv1(x))  # each conv layer applies its own ReLU
        h = F.relu(self.enc_dense(h.flatten(1)))
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z):
        """z: (N, latent_dim) -> logits (N, 1, H, W); sigmoid(logits) is the pixel probability."""
        h = F.relu(self.dec_dense(z)).view(-1, *self.feature_shape)
        h = self.dec_deconv2(self.dec_deconv1(h))  # each applies its own ReLU
        return self.dec_out(h)

    def forward(self, x, noise_sigma=0.0, generator=None):
        """Encode, sample z = mu + sigma * eps, optionally add N(0, noise_sigma^2), decode.

        The extra noise is the modified VAE's noisy channel; callers pass noise_sigma > 0 in
        training only. Returns (logits, mu, logvar, z) where z is the sample before the extra noise.
        """
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        z_decoded = z
        if noise_sigma > 0:
            noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
            z_decoded = z + noise_sigma * noise
        return self.decode(z_decoded), mu, logvar, z
