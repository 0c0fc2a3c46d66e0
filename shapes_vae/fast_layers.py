"""Fast CPU forms of the VAE's Keras-aligned convolutions: same parameters, same function.

Why (profiled on a 2-core AVX-512 CPU, torch 2.13 with oneDNN 3.x):
- oneDNN convolutions are fast only in channels_last (NHWC). With NCHW tensors every conv call
  reorders input, output and gradients to a blocked layout and back, costing more than the
  arithmetic, so activations stay channels_last here.
- oneDNN's *transposed*-conv forward is 2-4x slower per FLOP than its ordinary (forward) conv.
  The stride-2 transposed conv is therefore computed as four ordinary stride-1 convs, one per
  output phase (even/odd row x even/odd column), which use exactly the 9 kernel taps between
  them (no zero taps, unlike a 2x2 sub-pixel conv), then interleaved (two stack copies). This
  also gives the Keras crop for free: only output rows/cols 0..2n-1 are ever computed.
- Its backward needs no transposed conv either: the input gradient is the ordinary stride-2
  conv of the (zero-padded) output gradient, and the weight gradient comes from oneDNN.
- The 32->1 output layer: oneDNN's forward kernels for one output channel took 10-17 ms for a
  pass over 13 MB, so its forward is a GEMM to the 9 kernel taps (padded to 16 columns, which
  MKL ran ~2x faster than 9) followed by col2im (F.fold): a transposed conv by definition.
  Its backward (the 1 -> 32 directions) is fast in oneDNN and is left to it.
Weights are rearranged on the fly (tiny), so parameters and state_dicts are unchanged.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

CL = torch.channels_last


def _pad_bottom_right(t):
    """F.pad(t, (0, 1, 0, 1)) into a channels_last tensor, writing each element once (F.pad
    zero-fills the whole output and then copies the interior over it)."""
    n, c, h, w = t.shape
    out = torch.empty((n, c, h + 1, w + 1), dtype=t.dtype, device=t.device, memory_format=CL)
    out[:, :, :h, :w] = t
    out[:, :, h].zero_()
    out[:, :, :h, w].zero_()
    return out


def same_conv2d(x, weight, bias):
    """Stride-2, kernel-3 conv with Keras 'same' padding (zero row/col at bottom/right only)."""
    return F.conv2d(F.pad(x.contiguous(memory_format=CL), (0, 1, 0, 1)), weight, bias, stride=2)


def _phase_weights(weight):
    """Split a (Cin, Cout, 3, 3) transposed-conv kernel into the four output-phase conv kernels.

    Output row y = 2i + k. Even rows y = 2m get tap k=0 from input row m and k=2 from row m-1;
    odd rows y = 2m+1 get only k=1 from row m. As a conv over the input padded by one row on
    top (so padded row m holds input row m-1) the even-phase kernel is [k=2, k=0], the odd one
    [k=1] over the unpadded rows. Same for columns.
    """
    w = weight.transpose(0, 1)  # (Cout, Cin, kh, kw): the conv2d weight layout
    even, odd = [2, 0], [1]
    rows = {0: w[:, :, even], 1: w[:, :, odd]}
    return {(a, b): rows[a][:, :, :, even if b == 0 else odd] for a in (0, 1) for b in (0, 1)}


class _SameConvTranspose2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        x = x.contiguous(memory_format=CL)
        ctx.save_for_backward(x, weight)
        n, _, h, w = x.shape
        k = _phase_weights(weight)
        # conv2d's own padding pads both sides; the extra last row/col it computes is dropped
        # (cheaper than materialising a top/left-padded copy of x)
        p = {
            (0, 0): F.conv2d(x, k[0, 0], bias, padding=1)[:, :, :h, :w],
            (0, 1): F.conv2d(x, k[0, 1], bias, padding=(1, 0))[:, :, :h],
            (1, 0): F.conv2d(x, k[1, 0], bias, padding=(0, 1))[:, :, :, :w],
            (1, 1): F.conv2d(x, k[1, 1], bias),
        }
        # interleave: out[:, :, 2m+a, 2q+b] = p[a, b][:, :, m, q], built in NHWC memory order
        rows = [torch.stack([p[a, 0].permute(0, 2, 3, 1), p[a, 1].permute(0, 2, 3, 1)], 3)
                for a in (0, 1)]
        out = torch.stack(rows, 2)  # (N, h, 2, w, 2, C)
        return out.view(n, 2 * h, 2 * w, -1).permute(0, 3, 1, 2)  # channels_last NCHW view

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad = _pad_bottom_right(grad)  # the dropped last row/col of the full output: zero grad
        gx = F.conv2d(grad, weight, stride=2) if ctx.needs_input_grad[0] else None
        _, gw, gb = torch.ops.aten.convolution_backward(
            grad, x, weight, [weight.shape[1]], [2, 2], [0, 0], [1, 1], True, [0, 0], 1,
            [False, ctx.needs_input_grad[1], ctx.needs_input_grad[2]])
        return gx, gw, gb


def same_conv_transpose2d(x, weight, bias):
    """Stride-2, kernel-3 transposed conv keeping output rows/cols 0..2n-1 (y = 2i + k)."""
    return _SameConvTranspose2d.apply(x, weight, bias)


class _ConvTranspose2dToOne(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        x = x.contiguous(memory_format=CL)
        ctx.save_for_backward(x, weight)
        n, c, h, w = x.shape
        taps = weight.new_zeros(c, 16)
        taps[:, :9] = weight.reshape(c, 9)
        cols = torch.mm(x.permute(0, 2, 3, 1).reshape(-1, c), taps)  # (N*H*W, 16)
        cols = cols.view(n, h * w, 16)[:, :, :9].transpose(1, 2)  # (N, 9 taps, H*W)
        # col2im adds tap (kh, kw) of input pixel (i, j) into output pixel (i+kh-1, j+kw-1)
        return F.fold(cols, (h, w), 3, padding=1) + bias.view(1, 1, 1, 1)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        # the backward directions (1 -> C channels) are fast in oneDNN already
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad.contiguous(memory_format=CL), x, weight, [1], [1, 1], [1, 1], [1, 1], True,
            [0, 0], 1, ctx.needs_input_grad)
        # keep the gradient in x's layout so the ReLU backward before it runs contiguous
        return gx if gx is None else gx.contiguous(memory_format=CL), gw, gb


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose kernel-3, stride-1, padding-1, one-output-channel case (the
    decoder's logits layer) takes the fast CPU path; anything else is the stock layer."""

    def forward(self, x, output_size=None):
        fast = (not x.is_cuda and output_size is None and self.out_channels == 1
                and self.kernel_size == (3, 3) and self.stride == (1, 1) and self.padding == (1, 1)
                and self.dilation == (1, 1) and self.groups == 1 and self.output_padding == (0, 0)
                and self.bias is not None)
        if not fast:
            return super().forward(x, output_size)
        return _ConvTranspose2dToOne.apply(x, self.weight, self.bias)
