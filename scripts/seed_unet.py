"""The seed notebook's DDPM UNet in PyTorch, generalised to any base width and
depth, with the notebook's module names so that state_dict keys match
ddpm4j's tensor table (conv1.conv.0.weight, down1.conv.conv.0.weight,
up1.up.up_scale.weight, last_conv.weight, time_embed.weight, te1.0.weight,
te1_up.2.bias, ...). Used as the numerical reference (golden files) and as the
PyTorch baseline in benchmarks.

Architecture (as the notebook): double conv = (Conv3x3 -> BatchNorm -> ReLU) x 2;
down = MaxPool2d(2) then double conv; up = ConvTranspose2d(2, stride 2), pad to
the skip's size, cat([up, skip]), double conv; a frozen sinusoidal time table
feeds Linear -> SiLU -> Linear MLPs whose output is added (per channel) to the
input of every block.

Class-conditional variant (num_classes = K > 0, ddpm4j's extension): a learned
nn.Embedding(K + 1, time_emb_dim) named class_embed, whose row y is added to the
time-table row before the MLPs; row K is the null class (y = None).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def standard_table(n_steps: int, dim: int) -> torch.Tensor:
    """sin on even feature indices, cos on odd, frequency 10000^(-2*(j//2)/dim)."""
    t = torch.arange(n_steps, dtype=torch.float64)[:, None]
    j = torch.arange(dim, dtype=torch.float64)[None, :]
    freq = torch.pow(10000.0, -2.0 * torch.div(j, 2, rounding_mode="floor") / dim)
    angle = t * freq
    table = torch.where(j.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()


def notebook_table(n_steps: int, dim: int) -> torch.Tensor:
    """The seed notebook's own (non-standard) table, as its sinusoidal_embedding computes it: angles
    i / 10000^(2j/d) by row, sines in the even rows, and (for an even n_steps) in the odd rows the
    cosines of their own angles, since both sides of its last line index the rows 1 - sin_mask."""
    emb = torch.tensor([[i / 10_000 ** (2 * j / dim) for j in range(dim)] for i in range(n_steps)])
    even = torch.arange(0, n_steps, 2)
    emb[even] = torch.sin(emb[even])
    emb[1 - even] = torch.cos(emb[1 - even])
    return emb


class DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.conv(x)


class Down(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.pool = nn.MaxPool2d(2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x):
        return self.conv(self.pool(x))


class UpScale(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up_scale = nn.ConvTranspose2d(cin, cout, 2, stride=2)

    def forward(self, skip, x):
        x = self.up_scale(x)
        dy = skip.size(2) - x.size(2)
        dx = skip.size(3) - x.size(3)
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return torch.cat([x, skip], dim=1)


class Up(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = UpScale(cin, cout)
        self.conv = DoubleConv(cin, cout)

    def forward(self, skip, x):
        return self.conv(self.up(skip, x))


def time_mlp(dim_in: int, dim_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, dim_out), nn.SiLU(), nn.Linear(dim_out, dim_out))


class SeedUNet(nn.Module):
    def __init__(self, in_channels=3, base=64, depth=4, n_steps=1000, time_emb_dim=100, table=None, num_classes=0):
        super().__init__()
        self.num_classes = num_classes
        self.depth = depth
        width = [base * 2 ** i for i in range(depth + 1)]
        self.conv1 = DoubleConv(in_channels, width[0])
        for i in range(1, depth + 1):
            setattr(self, f"down{i}", Down(width[i - 1], width[i]))
        for j in range(1, depth + 1):
            setattr(self, f"up{j}", Up(width[depth - j + 1], width[depth - j]))
        self.last_conv = nn.Conv2d(width[0], in_channels, 1)
        self.time_embed = nn.Embedding(n_steps, time_emb_dim)
        self.time_embed.weight.data = standard_table(n_steps, time_emb_dim) if table is None else table
        self.time_embed.requires_grad_(False)
        self.te1 = time_mlp(time_emb_dim, in_channels)
        for i in range(1, depth + 1):
            setattr(self, f"te{i + 1}", time_mlp(time_emb_dim, width[i - 1]))
        for j in range(1, depth + 1):
            setattr(self, f"te{j}_up", time_mlp(time_emb_dim, width[depth - j + 1]))
        if num_classes > 0:  # registered last: its state_dict entry comes last, as in ddpm4j
            self.class_embed = nn.Embedding(num_classes + 1, time_emb_dim)

    def forward(self, x, t, y=None):
        n = x.shape[0]
        e = self.time_embed(t)
        if self.num_classes > 0:
            if y is None:
                y = torch.full((n,), self.num_classes, dtype=torch.long, device=x.device)
            e = e + self.class_embed(y)
        add = lambda te, v: v + te(e).reshape(n, -1, 1, 1)
        xs = [self.conv1(add(self.te1, x))]
        for i in range(1, self.depth + 1):
            xs.append(getattr(self, f"down{i}")(add(getattr(self, f"te{i + 1}"), xs[-1])))
        u = xs[-1]
        for j in range(1, self.depth + 1):
            u = getattr(self, f"up{j}")(xs[self.depth - j], add(getattr(self, f"te{j}_up"), u))
        return self.last_conv(u)


def config_from_state_dict(sd) -> dict:
    """SeedUNet keyword arguments implied by a state dict (e.g. an exported file)."""
    w = sd["conv1.conv.0.weight"]
    n_steps, dim = sd["time_embed.weight"].shape
    depth = 0
    while f"down{depth + 1}.conv.conv.0.weight" in sd:
        depth += 1
    return dict(in_channels=w.shape[1], base=w.shape[0], depth=depth, n_steps=n_steps, time_emb_dim=dim)


class DDPMSchedule:
    """Linear betas and the training/sampling coefficients, as the notebook."""

    def __init__(self, n_steps=1000, beta_start=1e-4, beta_end=0.02, device="cpu"):
        self.betas = torch.linspace(beta_start, beta_end, n_steps, dtype=torch.float32, device=device)
        self.alphas = 1.0 - self.betas
        self.abar = torch.cumprod(self.alphas, dim=0)
        self.sqrt_abar = self.abar.sqrt()
        self.sqrt_1m_abar = (1 - self.abar).sqrt()

    def add_noise(self, x0, eps, t):
        return self.sqrt_abar[t].view(-1, 1, 1, 1) * x0 + self.sqrt_1m_abar[t].view(-1, 1, 1, 1) * eps


def gflops_forward(model: SeedUNet, c: int, h: int, w: int) -> float:
    """Multiply-adds x 2 of one image's forward pass, convolutions and linears."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += 2 * out.numel() * mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1] // out.shape[0]
        elif isinstance(mod, nn.ConvTranspose2d):
            total += 2 * inp[0].numel() * mod.out_channels * 4 // inp[0].shape[0]
        elif isinstance(mod, nn.Linear):
            total += 2 * mod.in_features * mod.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, c, h, w), torch.zeros(1, dtype=torch.long))
    for hd in hs:
        hd.remove()
    return total / 1e9
