#!/usr/bin/env python3
"""PyTorch CPU baseline for the seed DDPM UNet, to compare with native/tools/unet_bench.

Builds the same model as native/core/unet.cpp (double conv = (conv3x3 -> BN ->
ReLU) x 2, max-pool downs, ConvTranspose2d(2, 2) ups with pad + concat, a time
MLP Linear(time_dim, c) -> SiLU -> Linear(c, c) on a frozen sinusoidal table
added in front of every block, 1x1 output conv) and times, with
torch.set_num_threads(threads):
  train: uint8 -> [-1, 1], t ~ U{0..T-1}, eps ~ N(0, 1), x_t, forward, MSE,
         backward, Adam step (the same step the native train_step does)
  forward: eval-mode forward under torch.no_grad()
Prints one JSON line with the fields unet_bench prints.

  python3 benchmarks/pytorch_cpu_baseline.py --threads 2 --batch 32
"""
import argparse
import json
import math
import platform
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoidal_table(timesteps, dim):
    t = torch.arange(timesteps, dtype=torch.float64)[:, None]
    j = torch.arange(dim)
    freq = torch.pow(10000.0, -2.0 * (j // 2).double() / dim)
    a = t * freq
    table = torch.where(j % 2 == 0, torch.sin(a), torch.cos(a))
    return table.float()


class DoubleConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.conv(x)


class Down(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.pool = nn.MaxPool2d(2, 2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x):
        return self.conv(self.pool(x))


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up_scale = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, skip, x):
        up = self.up_scale(x)
        dy = skip.size(2) - up.size(2)
        dx = skip.size(3) - up.size(3)
        up = F.pad(up, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([up, skip], dim=1))


def time_mlp(time_dim, c):
    return nn.Sequential(nn.Linear(time_dim, c), nn.SiLU(), nn.Linear(c, c))


class UNet(nn.Module):
    def __init__(self, in_channels=3, base=64, depth=4, time_dim=100, timesteps=1000):
        super().__init__()
        self.depth = depth
        widths = [base << i for i in range(depth + 1)]
        self.embed = nn.Embedding.from_pretrained(sinusoidal_table(timesteps, time_dim), freeze=True)
        self.conv1 = DoubleConv(in_channels, widths[0])
        self.downs = nn.ModuleList([Down(widths[i - 1], widths[i]) for i in range(1, depth + 1)])
        self.ups = nn.ModuleList([Up(widths[depth - j + 1], widths[depth - j]) for j in range(1, depth + 1)])
        self.last_conv = nn.Conv2d(widths[0], in_channels, 1)
        self.te_down = nn.ModuleList([time_mlp(time_dim, in_channels)] +
                                     [time_mlp(time_dim, widths[i - 1]) for i in range(1, depth + 1)])
        self.te_up = nn.ModuleList([time_mlp(time_dim, widths[depth - j + 1]) for j in range(1, depth + 1)])

    def forward(self, x, t):
        e = self.embed(t)
        n = x.size(0)

        def te(mlp):
            return mlp(e).reshape(n, -1, 1, 1)

        xs = [self.conv1(x + te(self.te_down[0]))]
        for i, down in enumerate(self.downs):
            xs.append(down(xs[-1] + te(self.te_down[i + 1])))
        u = xs[-1]
        for j, up in enumerate(self.ups):
            u = up(xs[self.depth - 1 - j], u + te(self.te_up[j]))
        return self.last_conv(u)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--image", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--base", type=int, default=64)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.0,
                    help="if > 0, repeat each timed phase until this many seconds have passed")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    T = 1000
    model = UNet(args.channels, args.base, args.depth, 100, T)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    abar = torch.cumprod(1.0 - betas, 0)
    sqrt_abar = abar.sqrt().float()
    sqrt_1m_abar = (1.0 - abar).sqrt().float()
    B, C, S = args.batch, args.channels, args.image
    pixels = torch.randint(0, 256, (B, C, S, S), dtype=torch.uint8)

    def train_step():
        x0 = pixels.float() / 127.5 - 1.0
        t = torch.randint(0, T, (B,))
        eps = torch.randn(B, C, S, S)
        xt = sqrt_abar[t].view(B, 1, 1, 1) * x0 + sqrt_1m_abar[t].view(B, 1, 1, 1) * eps
        loss = F.mse_loss(model(xt, t), eps)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        return loss

    def timed(fn, warmup, iters):
        for _ in range(warmup):
            fn()
        start = time.perf_counter()
        done = 0
        while done < iters or (args.seconds > 0 and time.perf_counter() - start < args.seconds):
            fn()
            done += 1
        return (time.perf_counter() - start) / done

    model.train()
    train_s = timed(train_step, args.warmup, args.iters)
    model.eval()
    x = torch.randn(B, C, S, S)
    t = torch.randint(0, T, (B,))
    with torch.no_grad():
        fwd_s = timed(lambda: model(x, t), args.warmup, args.iters)

    print(json.dumps({
        "backend": "pytorch-cpu",
        "device": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "batch": B,
        "image": S,
        "base": args.base,
        "depth": args.depth,
        "params": sum(p.numel() for p in model.parameters()),
        "train_img_per_s": round(B / train_s, 3),
        "forward_img_per_s": round(B / fwd_s, 3),
    }))


if __name__ == "__main__":
    main()
