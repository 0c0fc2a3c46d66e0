"""The paper's convolutional VAE, with Keras' 'same' padding alignment.

Keras pads a stride-2 'same' convolution only on the bottom/right (TensorFlow puts the odd
padding pixel last), whereas PyTorch's padding=1 pads both sides; the two give differently
aligned feature maps. Keras' stride-2 transposed convolution keeps output rows/columns
0 .. 2n-1 of the full (2n+1)-wide result, PyTorch's padding=1, output_padding=1 keeps 1 .. 2n.
Weights use Keras' defaults too: Glorot-uniform kernels, zero biases.

How we reproduce Keras exactly: rotate by 180 degrees. A kernel-3 layer applied to a map
rotated by 180 degrees, with its kernel rotated too, gives the rotated result of the original
layer but with the one-sided padding on the other side: bottom/right becomes top/left, where
PyTorch's symmetric padding puts it (the extra bottom/right row and column of padding=1 are
never read by a stride-2 kernel-3 conv on an even-sized map), and rows 0 .. 2n-1 of a
transposed conv become rows 1 .. 2n. So `encode` rotates its input, every conv layer runs as a
stock PyTorch layer with padding 1 on rotated maps with rotated kernels, the dense layers take
their weights re-indexed to the rotated maps' (H, W, C) memory order, and `decode` rotates
the logits back. The rotations touch only the 1-channel input and output and the weights
(tests/test_fast_layers.py checks it all against the plain Keras-aligned layers of
bench/baseline.py). Parameters and state_dict keys are those of the plain layers, in Keras'
orientation.

Memory format: conv activations are channels_last (NHWC), which oneDNN needs to be fast on
the CPU (see shapes_vae.fast_layers); it changes strides, never values or shapes.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from shapes_vae import fast_layers


def rot180(t):
    """t rotated by 180 degrees in its last two (spatial) dimensions."""
    return t.flip(-2, -1)


def at_least_float32(t):
    """t in float32 if it is in a narrower floating type (autocast's bfloat16), else unchanged:
    the model returns its latent statistics and logits in float32 under autocast."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def to_rotated_nhwc(t, dim, channels, size):
    """Re-index dimension `dim` of t from the (C, H, W) order of a feature map to the (H, W, C)
    order of the same map rotated by 180 degrees and stored channels_last."""
    t = t.movedim(dim, 0)
    rest = t.shape[1:]
    t = t.reshape(channels, size, size, *rest).flip(1, 2).movedim(0, 2)
    return t.reshape(channels * size * size, *rest).movedim(0, dim)


class SameConv2dReLU(nn.Conv2d):
    """Keras' Conv2d, kernel 3, stride 2, 'same' padding, then ReLU: (H, W) -> (H/2, W/2),
    on maps rotated by 180 degrees (the module docstring says why)."""

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x_rotated):
        return fast_layers.conv2d_relu(x_rotated, rot180(self.weight), self.bias)


class SameConvTranspose2dReLU(nn.ConvTranspose2d):
    """Keras' ConvTranspose2d, kernel 3, stride 2, 'same' padding, then ReLU: (H, W) -> (2H, 2W),
    on maps rotated by 180 degrees. Output pixel y receives input i through kernel tap k where
    y = 2i + k; Keras keeps y = 0 .. 2H-1 of the full 2H+1."""

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x_rotated):
        return fast_layers.conv_transpose2d_relu(x_rotated, rot180(self.weight), self.bias)


class SameConvTranspose2d(nn.ConvTranspose2d):
    """ConvTranspose2d, kernel 3, stride 1, padding 1 ('same' in both frameworks), on maps
    rotated by 180 degrees."""

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x_rotated):
        return fast_layers.conv_transpose2d_3x3(x_rotated, rot180(self.weight), self.bias)


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
        self.dec_out = SameConvTranspose2d(c1, 1)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x):
        """x: (N, 1, H, W) in [0, 1] -> (mu, logvar), each (N, latent_dim)."""
        if x.shape[-2:] != (self.image_size, self.image_size):  # the rotation needs exactly this
            raise ValueError(f"expected images of {self.image_size}x{self.image_size}, got {tuple(x.shape)}")
        h = self.enc_conv2(self.enc_conv1(rot180(x)))  # each conv layer applies its own ReLU
        # flatten in memory order (a view of the channels_last map), the weight re-indexed to it
        c, s, _ = self.feature_shape
        w = to_rotated_nhwc(self.enc_dense.weight, 1, c, s)
        h = F.relu(F.linear(h.permute(0, 2, 3, 1).flatten(1), w, self.enc_dense.bias))
        return at_least_float32(self.enc_mu(h)), at_least_float32(self.enc_logvar(h))

    def decode(self, z):
        """z: (N, latent_dim) -> logits (N, 1, H, W); sigmoid(logits) is the pixel probability."""
        c, s, _ = self.feature_shape
        w = to_rotated_nhwc(self.dec_dense.weight, 0, c, s)
        b = to_rotated_nhwc(self.dec_dense.bias, 0, c, s)
        h = F.relu(F.linear(z, w, b)).view(-1, s, s, c).permute(0, 3, 1, 2)  # rotated, channels_last
        h = self.dec_deconv2(self.dec_deconv1(h))  # each applies its own ReLU
        return at_least_float32(rot180(self.dec_out(h)))

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
