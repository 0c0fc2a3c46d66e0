"""Fast CPU forms of the VAE's Keras-aligned convolutions: same parameters, same function.

Why (profiled on a 2-core AVX-512 CPU, torch 2.13 with oneDNN 3.x):
- oneDNN convolutions are fast only in channels_last (NHWC). With NCHW tensors every conv call
  reorders input, output and gradients to a blocked layout and back, costing more than the
  arithmetic, so activations stay channels_last here.
- Biases are kept out of oneDNN's transposed convs. With a bias, the 64->32 stride-2 transposed
  conv forward took 16 ms against 6 ms without (68 ms as the fused conv+bias+ReLU op), and its
  weight gradient 13.6 against 9.0 ms when asked for the bias gradient too. The bias is added
  in the ReLU pass instead, and its gradient is a plain sum of the output gradient (0.25 ms);
  the ordinary convs get the same split in their backward.
- The stride-2 transposed conv's backward needs no transposed conv: the input gradient is the
  ordinary stride-2 conv of the (zero-padded) output gradient, at oneDNN's fastest rate.
- The ReLU after each hidden conv is part of the layer (`*_relu`): the forward applies it to a
  result still in cache, and the backward masks the gradient in the same pass that zero-pads
  it. Separate ReLU ops cost two extra passes over each activation, forward and backward.
- The 32->1 output layer: oneDNN's forward kernels for one output channel took 10-17 ms for a
  pass over 13 MB, so its forward is one GEMM to the 9 kernel taps, laid out tap-major (nine
  (N, H, W) planes), followed by nine shifted adds: a transposed conv by definition (col2im).
  Its backward (the 1 -> C directions) is fast in oneDNN and is left to it.
Parameters and state_dicts are those of the plain layers (shapes_vae.model).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

CL = torch.channels_last
_conv_backward = torch.ops.aten.convolution_backward
_relu_backward = torch.ops.aten.threshold_backward  # grad * (y > 0), with an out= form


def _padded_bottom_right(t):
    """An uninitialised channels_last tensor one row and column larger than t's (N, C, H, W),
    with that last row and column zeroed, and a view of its interior for the caller to fill
    (F.pad would zero-fill everything and then copy the interior over it)."""
    n, c, h, w = t.shape
    out = torch.empty((n, c, h + 1, w + 1), dtype=t.dtype, device=t.device, memory_format=CL)
    out[:, :, h].zero_()
    out[:, :, :h, w].zero_()
    return out, out[:, :, :h, :w]


class _SameConv2dReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        xp, interior = _padded_bottom_right(x)
        interior.copy_(x)
        y = F.conv2d(xp, weight, bias, stride=2).relu_()
        ctx.save_for_backward(xp, weight, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        xp, weight, y = ctx.saved_tensors
        g = _relu_backward(grad.contiguous(memory_format=CL), y, 0)
        gxp, gw, _ = _conv_backward(g, xp, weight, None, [2, 2], [0, 0], [1, 1], False, [0, 0], 1,
                                    [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False])
        gb = g.sum((0, 2, 3)) if ctx.needs_input_grad[2] else None
        return None if gxp is None else gxp[:, :, :-1, :-1], gw, gb


def same_conv2d_relu(x, weight, bias):
    """relu(stride-2, kernel-3 conv with Keras 'same' padding: a zero row/col at bottom/right)."""
    return _SameConv2dReLU.apply(x, weight, bias)


class _SameConvTranspose2dReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        x = x.contiguous(memory_format=CL)
        h, w = x.shape[-2:]
        # oneDNN without its bias (see the module docstring), Keras' crop as a view, then
        # bias and ReLU in one new channels_last tensor
        y = F.conv_transpose2d(x, weight, None, stride=2)[:, :, : 2 * h, : 2 * w]
        y = (y if bias is None else y + bias.view(1, -1, 1, 1)).relu_()
        ctx.save_for_backward(x, weight, y)
        return y

    @staticmethod
    @once_differentiable  # the masked gradient is written in place (out=): no double backward
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        # the dropped last row/col of the full (2n+1)-wide output has zero gradient
        g, interior = _padded_bottom_right(y)
        _relu_backward(grad, y, 0, grad_input=interior)
        gx = F.conv2d(g, weight, stride=2) if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:
            gw = _conv_backward(g, x, weight, None, [2, 2], [0, 0], [1, 1], True, [0, 0], 1,
                                [False, True, False])[1]
        gb = g.sum((0, 2, 3)) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def same_conv_transpose2d_relu(x, weight, bias):
    """relu(stride-2, kernel-3 transposed conv keeping output rows/cols 0..2n-1 (y = 2i + k))."""
    return _SameConvTranspose2dReLU.apply(x, weight, bias)


class _ConvTranspose2dToOne(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        x = x.contiguous(memory_format=CL)
        ctx.save_for_backward(x, weight)
        n, c, h, w = x.shape
        # taps[t, n, i, j] = sum_c weight[c, 0, kh, kw] * x[n, c, i, j], t = 3 kh + kw
        taps = torch.mm(weight.reshape(c, 9).t(), x.permute(0, 2, 3, 1).reshape(-1, c).t())
        taps = taps.view(9, n, h, w)
        # col2im: tap (kh, kw) of input pixel (i, j) lands on output pixel (i+kh-1, j+kw-1)
        acc = x.new_zeros(n, h + 2, w + 2)
        for t in range(9):
            kh, kw = divmod(t, 3)
            acc[:, kh : kh + h, kw : kw + w] += taps[t]
        return (acc[:, 1 : h + 1, 1 : w + 1] + bias).unsqueeze(1)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad = grad.contiguous(memory_format=CL)
        # the backward directions (1 -> C channels) are fast in oneDNN already; one call per
        # gradient, bias apart (asking for several at once was slower)
        need = ctx.needs_input_grad
        gx = gw = gb = None
        if need[0]:
            gx = _conv_backward(grad, x, weight, None, [1, 1], [1, 1], [1, 1], True, [0, 0], 1,
                                [True, False, False])[0]
            gx = gx.contiguous(memory_format=CL)  # x's layout, for the ReLU backward before it
        if need[1]:
            gw = _conv_backward(grad, x, weight, None, [1, 1], [1, 1], [1, 1], True, [0, 0], 1,
                                [False, True, False])[1]
        if need[2]:
            gb = grad.sum((0, 2, 3))
        return gx, gw, gb


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose kernel-3, stride-1, padding-1, one-output-channel case (the
    decoder's logits layer) takes the fast CPU path; anything else is the stock layer."""

    def forward(self, x, output_size=None):
        fast = (x.device.type == "cpu" and x.dim() == 4 and output_size is None and self.out_channels == 1
                and self.kernel_size == (3, 3) and self.stride == (1, 1) and self.padding == (1, 1)
                and self.dilation == (1, 1) and self.groups == 1 and self.output_padding == (0, 0)
                and self.bias is not None)
        if not fast:
            return super().forward(x, output_size)
        return _ConvTranspose2dToOne.apply(x, self.weight, self.bias)
