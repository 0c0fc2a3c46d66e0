"""The paper's VAE in a faster CPU form: same parameters, same function as shapes_vae.model.VAE.

The trick is a rotation by 180 degrees. A kernel-3 layer applied to a map rotated by 180
degrees, with its kernel rotated too, gives the rotated result of the original layer but with
Keras' one-sided padding on the other side: bottom/right becomes top/left, where PyTorch's
symmetric padding puts it (the extra bottom/right row and column of padding=1 are never read by
a stride-2 kernel-3 conv on an even-sized map), and rows 0 .. 2n-1 of a transposed conv become
rows 1 .. 2n. So `encode` rotates its input, every conv layer runs with padding 1 on rotated
maps with rotated kernels, the dense layers take their weights re-indexed to the rotated maps'
(H, W, C) memory order, and `decode` rotates the logits back. The rotations touch only the
1-channel input and output and the weights, and no pad or crop copies a feature map.
Parameters and state_dict keys are the plain model's, in Keras' orientation.

The conv layers are autograd Functions, for these reasons (profiled on a 2-core AVX-512 CPU with
oneDNN 3.x):
- oneDNN convolutions are fast only in channels_last (NHWC). With NCHW tensors every conv call
  reorders input, output and gradients to a blocked layout and back, costing more than the
  arithmetic, so activations stay channels_last here (it changes strides, never values).
- The ReLU is part of the layer: the forward applies it in place to a result still in cache and
  saves that one tensor, and the backward masks the gradient once.
- Bias gradients are plain sums of the masked gradient: asking oneDNN's weight-gradient call
  for the bias as well was slower than the weight gradient alone plus the sum.
- The 32->1 logits layer: oneDNN's forward kernels for one output channel are slow, so its
  forward is one GEMM to the 9 kernel taps, laid out tap-major (nine (N, H, W) planes),
  followed by nine shifted adds: a transposed conv by definition (col2im). Its backward (the
  1 -> C directions) is fast in oneDNN and is left to it.
Under autocast (runtime.train_precision: bfloat16) the layers cast their float32 inputs to the
autocast type, as the stock layers do, and compute in it; the logits layer sums its nine taps
and its bias in float32 and returns float32.
"""
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from shapes_vae.model import VAE, at_least_float32

CL = torch.channels_last
_conv_backward = torch.ops.aten.convolution_backward
_relu_backward = torch.ops.aten.threshold_backward  # grad * (y > 0)


def rot180(t):
    """t rotated by 180 degrees in its last two (spatial) dimensions."""
    return t.flip(-2, -1)


def to_rotated_nhwc(t, dim, channels, size):
    """Re-index dimension `dim` of t from the (C, H, W) order of a feature map to the (H, W, C)
    order of the same map rotated by 180 degrees and stored channels_last."""
    t = t.movedim(dim, 0)
    rest = t.shape[1:]
    t = t.reshape(channels, size, size, *rest).flip(1, 2).movedim(0, 2)
    return t.reshape(channels * size * size, *rest).movedim(0, dim)


def _channels_last(t):
    """t in channels_last memory order; for one channel NCHW strides pass PyTorch's check but
    would make oneDNN pick NCHW kernels, so those are restrided too (same values)."""
    if t.shape[1] == 1 and t.stride(1) != 1:
        return t.contiguous().as_strided(t.shape, (t.shape[2] * t.shape[3], 1, t.shape[3], 1))
    return t.contiguous(memory_format=CL)


class _ConvReLU(torch.autograd.Function):
    """relu(conv2d(x, weight, bias, stride=2, padding=1)), or with transposed=True
    relu(conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1)): half or twice
    the size."""

    @staticmethod
    def forward(ctx, x, weight, bias, transposed):
        x = _channels_last(x)
        if transposed:
            y = F.conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1)
        else:
            y = F.conv2d(x, weight, bias, stride=2, padding=1)
        ctx.save_for_backward(x, weight, y.relu_())
        ctx.transposed = transposed
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        g = _relu_backward(grad.contiguous(memory_format=CL), y, 0)
        output_padding = [1, 1] if ctx.transposed else [0, 0]
        gx, gw, _ = _conv_backward(g, x, weight, None, [2, 2], [1, 1], [1, 1], ctx.transposed, output_padding, 1,
                                   [need[0], need[1], False])
        return gx, gw, g.sum((0, 2, 3)) if need[2] else None, None


class _ConvTranspose2dToOne(torch.autograd.Function):
    """conv_transpose2d(x, weight, bias, stride=1, padding=1) for a (C, 1, 3, 3) weight."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        x = _channels_last(x)
        ctx.save_for_backward(x, weight)
        n, c, h, w = x.shape
        # taps[t, n, i, j] = sum_c weight[c, 0, kh, kw] * x[n, c, i, j], t = 3 kh + kw
        taps = torch.mm(weight.reshape(c, 9).t(), x.permute(0, 2, 3, 1).reshape(-1, c).t())
        taps = taps.view(9, n, h, w)
        # col2im: tap (kh, kw) of input pixel (i, j) lands on output pixel (i+kh-1, j+kw-1),
        # summed in float32 at least (bfloat16 sums of nine taps would round nine times)
        acc = x.new_zeros(n, h + 2, w + 2, dtype=torch.promote_types(x.dtype, torch.float32))
        for t in range(9):
            kh, kw = divmod(t, 3)
            acc[:, kh : kh + h, kw : kw + w] += taps[t]
        return (acc[:, 1 : h + 1, 1 : w + 1] + bias).unsqueeze(1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        gb = grad.sum((0, 2, 3)) if need[2] else None  # in grad's type, before the cast below
        grad = _channels_last(grad.to(x.dtype))  # the weight gradient is much slower with NCHW strides
        # one call per gradient, bias apart (asking for several at once was slower)
        args = (grad, x, weight, None, [1, 1], [1, 1], [1, 1], True, [0, 0], 1)
        gx = _conv_backward(*args, [True, False, False])[0] if need[0] else None
        if gx is not None:
            gx = gx.contiguous(memory_format=CL)  # x's layout, for the ReLU backward before it
        gw = _conv_backward(*args, [False, True, False])[1] if need[1] else None
        return gx, gw, gb


def _autocast(*tensors):
    """The tensors in the autocast type when autocast is on, float32 ones only, as autocast casts
    (the casts are autograd ops, so float32 weights get float32 gradients); else unchanged."""
    if not torch.is_autocast_enabled("cpu"):
        return tensors
    dtype = torch.get_autocast_dtype("cpu")
    return tuple(t.to(dtype) if t.dtype == torch.float32 else t for t in tensors)


def conv2d_relu(x, weight, bias):
    """relu(conv2d(x, weight, bias, stride=2, padding=1)): (N, C, H, W) -> (N, C', H/2, W/2)."""
    return _ConvReLU.apply(*_autocast(x, weight, bias), False)


def conv_transpose2d_relu(x, weight, bias):
    """relu(conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1)):
    (N, C, H, W) -> (N, C', 2H, 2W)."""
    return _ConvReLU.apply(*_autocast(x, weight, bias), True)


def conv_transpose2d_to_one(x, weight, bias):
    """conv_transpose2d(x, weight, bias, stride=1, padding=1): (N, C, H, W) -> (N, 1, H, W)."""
    # the bias is added to the float32 sum as it is: no rounding of it or of its gradient
    return _ConvTranspose2dToOne.apply(*_autocast(x, weight), bias)


def _on_cpu(t):
    if t.device.type != "cpu":
        raise ValueError(f"FastCPUVAE runs on the CPU only, got a tensor on {t.device} (use shapes_vae.model.VAE)")


class FastCPUVAE(VAE):
    """shapes_vae.model.VAE computed in the rotated channels_last frame (the module docstring
    says why): same layers and parameters, and `forward` (the sampling) is inherited."""

    def extra_repr(self):
        return "forward: shapes_vae.fast_cpu layers on maps rotated by 180 degrees, same function"

    def encode(self, x):
        _on_cpu(x)
        if x.shape[-2:] != (self.image_size, self.image_size):  # the rotation needs exactly this
            raise ValueError(f"expected images of {self.image_size}x{self.image_size}, got {tuple(x.shape)}")
        h = rot180(x)
        for conv in (self.enc_conv1, self.enc_conv2):
            h = conv2d_relu(h, rot180(conv.weight), conv.bias)
        # flatten in memory order (a view of the channels_last map), the weight re-indexed to it
        c, s, _ = self.feature_shape
        w = to_rotated_nhwc(self.enc_dense.weight, 1, c, s)
        h = F.relu(F.linear(h.permute(0, 2, 3, 1).flatten(1), w, self.enc_dense.bias))
        return at_least_float32(self.enc_mu(h)), at_least_float32(self.enc_logvar(h))

    def decode(self, z):
        _on_cpu(z)
        c, s, _ = self.feature_shape
        w = to_rotated_nhwc(self.dec_dense.weight, 0, c, s)
        b = to_rotated_nhwc(self.dec_dense.bias, 0, c, s)
        h = F.relu(F.linear(z, w, b)).view(-1, s, s, c).permute(0, 3, 1, 2)  # rotated, channels_last
        for deconv in (self.dec_deconv1, self.dec_deconv2):
            h = conv_transpose2d_relu(h, rot180(deconv.weight), deconv.bias)
        h = conv_transpose2d_to_one(h, rot180(self.dec_out.weight), self.dec_out.bias)
        return at_least_float32(rot180(h))
