#!/usr/bin/python3
"""The U-Net of configs/synthetic.yaml trained by PyTorch itself (python3-torch),
for bench/train_throughput.sh: same architecture, patch, batch, optimizer,
loss, precision and threads as `medseg train`; prints patches/s.

Differences, all in PyTorch's favour: random tensors instead of augmented
phantom patches (no data loading at all), and one nn.BatchNorm3d per layer
where medseg keeps one set of statistics per scanner (DomainBatchNorm).
Not part of the test suite.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, stride=stride, padding=1)
        self.norm = nn.BatchNorm3d(cout)

    def forward(self, x):
        return F.leaky_relu(self.norm(self.conv(x)), 0.01)


def pixel_shuffle_3d(x, s=2):
    n, c8, d, h, w = x.shape
    c = c8 // (s * s * s)
    return x.view(n, c, s, s, s, d, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4).reshape(n, c, d * s, h * s, w * s)


class UNet3d(nn.Module):
    """medseg::models::UNet3d: two conv blocks per level, stride 2 in the first
    block of every level below the top, pixel-shuffle up-sampling, a 1x1 head
    per decoder level (deep supervision)."""

    def __init__(self, cin, classes, base, depth, max_features=256):
        super().__init__()
        f = [min(base << level, max_features) for level in range(depth)]
        self.enc = nn.ModuleList()
        c = cin
        for level in range(depth):
            self.enc.append(nn.Sequential(ConvBlock(c, f[level], 1 if level == 0 else 2),
                                          ConvBlock(f[level], f[level], 1)))
            c = f[level]
        self.up, self.dec, self.heads = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for level in range(depth - 2, -1, -1):
            self.up.append(nn.Conv3d(f[level + 1], f[level] * 8, 1))
            self.dec.append(nn.Sequential(ConvBlock(2 * f[level], f[level], 1), ConvBlock(f[level], f[level], 1)))
            self.heads.append(nn.Conv3d(f[level], classes, 1))

    def forward(self, x):
        skips = []
        for block in self.enc:
            x = block(x)
            skips.append(x)
        outputs = []
        for i, (up, dec, head) in enumerate(zip(self.up, self.dec, self.heads)):
            x = dec(torch.cat([pixel_shuffle_3d(up(x)), skips[len(skips) - 2 - i]], 1))
            outputs.append(head(x))
        return outputs[::-1]


def dice_ce(logits, target, classes):
    ce = F.cross_entropy(logits.float(), target)
    p = logits.float().softmax(1)
    one_hot = F.one_hot(target, classes).permute(0, 4, 1, 2, 3).float()
    dims = (0, 2, 3, 4)
    dice = (2 * (p * one_hot).sum(dims) + 1e-5) / (p.sum(dims) + one_hot.sum(dims) + 1e-5)
    return ce + (1 - dice[1:].mean())


def deep_supervision_loss(outputs, target, classes):
    weights = [1.0 / (1 << i) for i in range(len(outputs))]
    total = sum(weights)
    loss = 0
    for w, out in zip(weights, outputs):
        t = target
        if out.shape[2:] != target.shape[1:]:
            t = F.interpolate(target[:, None].float(), size=out.shape[2:], mode="nearest")[:, 0].long()
        loss = loss + (w / total) * dice_ce(out, t, classes)
    return loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--base", type=int, default=16)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = UNet3d(1, a.classes, a.base, a.depth).train()
    opt = torch.optim.AdamW(net.parameters(), lr=0.003)
    shape = (a.batch, 1, a.patch, a.patch, a.patch)
    batches = [(torch.randn(shape), torch.randint(0, a.classes, (a.batch, a.patch, a.patch, a.patch)))
               for _ in range(8)]
    start = None
    for it in range(a.warmup + a.iterations):
        if it == a.warmup:
            start = time.perf_counter()
        x, y = batches[it % len(batches)]
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            outputs = net(x)
        loss = deep_supervision_loss(outputs, y, a.classes)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    print(f"pytorch {torch.__version__} {a.precision} patches/s {a.iterations * a.batch / seconds:.2f}")


if __name__ == "__main__":
    main()
