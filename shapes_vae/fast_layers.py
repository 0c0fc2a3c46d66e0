"""Fast CPU forms of the VAE's convolutions, PyTorch-aligned: same parameters, same function.

The model (shapes_vae.model) calls these on feature maps rotated by 180 degrees, where Keras'
one-sided 'same' padding becomes PyTorch's symmetric padding (see its docstring), so every
layer here is a stock PyTorch layer with padding 1 followed by ReLU. On devices other than the
CPU they are exactly that (cuDNN is fast with the plain ops); on the CPU they are autograd
Functions, for these reasons (profiled on a 2-core AVX-512 CPU, torch 2.13 with oneDNN 3.x):
- oneDNN convolutions are fast only in channels_last (NHWC). With NCHW tensors every conv call
  reorders input, output and gradients to a blocked layout and back, costing more than the
  arithmetic, so activations stay channels_last here.
- The ReLU is part of the layer: the forward applies it in place to a result still in cache and
  saves that one tensor, and the backward masks the gradient once.
- Bias gradients are plain sums of the masked gradient: asking oneDNN's weight-gradient call
  for the bias as well took 7.5 ms against 5.7 + 0.2 ms for the 64->32 transposed conv.
- The 32->1 logits layer: oneDNN's forward kernels for one output channel took 10-17 ms for a
  pass over 13 MB, so its forward is one GEMM to the 9 kernel taps, laid out tap-major (nine
  (N, H, W) planes), followed by nine shifted adds: a transposed conv by definition (col2im).
  Its backward (the 1 -> C directions) is fast in oneDNN and is left to it.
Under autocast (runtime.train_precision: bfloat16) the layers cast their float32 inputs to the
autocast type, as the stock layers do, and compute in it; the logits layer sums its nine taps
and its bias in float32 and returns float32.
"""
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

CL = torch.channels_last
_conv_backward = torch.ops.aten.convolution_backward
_relu_backward = torch.ops.aten.threshold_backward  # grad * (y > 0)


def _channels_last(t):
    """t in channels_last memory order; for one channel NCHW strides pass PyTorch's check but
    would make oneDNN pick NCHW kernels, so those are restrided too (same values)."""
    if t.shape[1] == 1 and t.stride(1) != 1:
        return t.contiguous().as_strided(t.shape, (t.shape[2] * t.shape[3], 1, t.shape[3], 1))
    return t.contiguous(memory_format=CL)


class _Conv2dReLU(torch.autograd.Function):
    """relu(conv2d(x, weight, bias, stride=2, padding=1))."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        x = _channels_last(x)
        y = F.conv2d(x, weight, bias, stride=2, padding=1).relu_()
        ctx.save_for_backward(x, weight, y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        g = _relu_backward(grad.contiguous(memory_format=CL), y, 0)
        gx, gw, _ = _conv_backward(g, x, weight, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1,
                                   [need[0], need[1], False])
        return gx, gw, g.sum((0, 2, 3)) if need[2] else None


class _ConvTranspose2dReLU(torch.autograd.Function):
    """relu(conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1)): 2x size."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        x = _channels_last(x)
        y = F.conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1).relu_()
        ctx.save_for_backward(x, weight, y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        g = _relu_backward(grad.contiguous(memory_format=CL), y, 0)
        # one oneDNN call per gradient: asking for both at once was no faster
        args = (g, x, weight, None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1)
        gx = _conv_backward(*args, [True, False, False])[0] if need[0] else None
        gw = _conv_backward(*args, [False, True, False])[1] if need[1] else None
        return gx, gw, g.sum((0, 2, 3)) if need[2] else None


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
        grad = _channels_last(grad.to(x.dtype))  # the weight gradient took 2x as long with NCHW strides
        # one call per gradient, bias apart (asking for several at once was slower)
        args = (grad, x, weight, None, [1, 1], [1, 1], [1, 1], True, [0, 0], 1)
        gx = _conv_backward(*args, [True, False, False])[0] if need[0] else None
        if gx is not None:
            gx = gx.contiguous(memory_format=CL)  # x's layout, for the ReLU backward before it
        gw = _conv_backward(*args, [False, True, False])[1] if need[1] else None
        return gx, gw, gb


def _fast(x, bias):
    return x.device.type == "cpu" and x.dim() == 4 and bias is not None


def _autocast(*tensors):
    """The tensors in the autocast type when autocast is on, float32 ones only, as autocast casts
    (the casts are autograd ops, so float32 weights get float32 gradients); else unchanged."""
    device = tensors[0].device.type
    if not torch.is_autocast_enabled(device):
        return tensors
    dtype = torch.get_autocast_dtype(device)
    return tuple(t.to(dtype) if t.dtype == torch.float32 else t for t in tensors)


def conv2d_relu(x, weight, bias):
    """relu(conv2d(x, weight, bias, stride=2, padding=1)): (N, C, H, W) -> (N, C', H/2, W/2)."""
    if not _fast(x, bias):
        return F.relu(F.conv2d(x, weight, bias, stride=2, padding=1))
    return _Conv2dReLU.apply(*_autocast(x, weight, bias))


def conv_transpose2d_relu(x, weight, bias):
    """relu(conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1)):
    (N, C, H, W) -> (N, C', 2H, 2W)."""
    if not _fast(x, bias):
        return F.relu(F.conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1))
    return _ConvTranspose2dReLU.apply(*_autocast(x, weight, bias))


def conv_transpose2d_3x3(x, weight, bias):
    """conv_transpose2d(x, weight, bias, stride=1, padding=1): (N, C, H, W) -> (N, C', H, W)."""
    if not (_fast(x, bias) and weight.shape[1:] == (1, 3, 3)):
        return F.conv_transpose2d(x, weight, bias, stride=1, padding=1)
    # the bias is added to the float32 sum as it is: no rounding of it or of its gradient
    return _ConvTranspose2dToOne.apply(*_autocast(x, weight), bias)
