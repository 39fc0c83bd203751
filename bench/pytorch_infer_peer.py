#!/usr/bin/python3
"""The bundled models' U-Net run for inference by PyTorch itself (python3-torch),
for bench/network_vs_pytorch.sh: the same architecture (base 8, depth 4,
3 classes, pixel-shuffle up-sampling, only the full-resolution head), the
same 64^3 windows two at a time, precision and threads as medseg's folded
inference network; prints ms per window for each way a PyTorch user would
run it, so the comparison can take PyTorch's best:

  eager      net.eval() under torch.inference_mode()
  eager_cl   the same in channels-last 3D memory
  frozen     torch.jit.freeze + optimize_for_inference (folds batch norm
             into the convolutions and runs them on oneDNN tensors)    [fp32]
  autocast   eager under CPU autocast to bfloat16                      [bf16]
  bf16       weights and input converted to bfloat16                   [bf16]

Random weights, statistics and windows: the time does not depend on them.
Not part of the test suite.
"""
import argparse
import statistics
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from pytorch_train_peer import UNet3d, pixel_shuffle_3d  # noqa: E402


class InferenceUNet3d(UNet3d):
    """Only the full-resolution head, as medseg (and nnU-Net) infer."""

    def forward(self, x):
        skips = []
        for block in self.enc:
            x = block(x)
            skips.append(x)
        for i, (up, dec) in enumerate(zip(self.up, self.dec)):
            x = dec(torch.cat([pixel_shuffle_3d(up(x)), skips[len(skips) - 2 - i]], 1))
        return self.heads[-1](x)


def build(a):
    torch.manual_seed(0)
    net = InferenceUNet3d(1, a.classes, a.base, a.depth)
    for m in net.modules():  # statistics as after training, not the identity
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def variants(a, x):
    net = build(a)
    if a.precision == "fp32":
        yield "eager", lambda: net(x)
        cl = build(a).to(memory_format=torch.channels_last_3d)
        x_cl = x.contiguous(memory_format=torch.channels_last_3d)
        yield "eager_cl", lambda: cl(x_cl)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(build(a), x)))
        yield "frozen", lambda: frozen(x)
    else:
        def autocast():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return net(x)
        yield "autocast", autocast
        pure = build(a).to(torch.bfloat16)
        x_bf16 = x.to(torch.bfloat16)
        yield "bf16", lambda: pure(x_bf16)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--base", type=int, default=8)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="timed forward calls per variant")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x = torch.randn(a.batch, 1, a.patch, a.patch, a.patch)
    with torch.inference_mode():
        for name, run in variants(a, x):
            run()  # oneDNN creates its primitives on the first call
            seconds = []
            for _ in range(a.repeats):
                start = time.perf_counter()
                y = run()
                seconds.append(time.perf_counter() - start)
            assert tuple(y.shape) == (a.batch, a.classes, a.patch, a.patch, a.patch), y.shape
            ms = 1e3 * statistics.median(seconds) / a.batch
            print(f"pytorch {torch.__version__} {a.precision} {name} ms/window {ms:.1f}", flush=True)


if __name__ == "__main__":
    main()
