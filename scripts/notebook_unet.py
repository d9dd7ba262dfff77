"""The seed notebook's DDPM UNet in PyTorch with the notebook's own class and module names, at any
base width and depth (the notebook: base 64, depth 4, time_emb_dim 100,
n_steps 1000). Used by make_safetensors_golden.py and check_export_with_torch.py;
this is our own code for the model, written to match the notebook's state_dict.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoidal_embedding(n, d):
    """The notebook's table, verbatim (it indexes rows, not columns, so it is
    not the standard sinusoidal table)."""
    embedding = torch.tensor([[i / 10_000 ** (2 * j / d) for j in range(d)] for i in range(n)])
    sin_mask = torch.arange(0, n, 2)
    embedding[sin_mask] = torch.sin(embedding[sin_mask])
    embedding[1 - sin_mask] = torch.cos(embedding[sin_mask])
    return embedding


class double_conv(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.conv(x)


class down_layer(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.pool = nn.MaxPool2d(2, stride=2, padding=0)
        self.conv = double_conv(in_ch, out_ch)

    def forward(self, x):
        return self.conv(self.pool(x))


class up(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.up_scale = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2)

    def forward(self, x1, x2):
        x2 = self.up_scale(x2)
        diff_y = x1.size()[2] - x2.size()[2]
        diff_x = x1.size()[3] - x2.size()[3]
        x2 = F.pad(x2, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        return torch.cat([x2, x1], dim=1)


class up_layer(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.up = up(in_ch, out_ch)
        self.conv = double_conv(in_ch, out_ch)

    def forward(self, x1, x2):
        return self.conv(self.up(x1, x2))


class UNet(nn.Module):
    def __init__(self, in_channels=3, n_steps=1000, time_emb_dim=100, base=64, depth=4):
        super().__init__()
        self.depth = depth
        self.time_embed = nn.Embedding(n_steps, time_emb_dim)
        self.time_embed.weight.data = sinusoidal_embedding(n_steps, time_emb_dim)
        self.time_embed.requires_grad_(False)
        w = [base * 2 ** i for i in range(depth + 1)]
        self.conv1 = double_conv(in_channels, w[0])
        self.te1 = self._make_te(time_emb_dim, in_channels)
        for i in range(1, depth + 1):
            setattr(self, f"down{i}", down_layer(w[i - 1], w[i]))
            setattr(self, f"te{i + 1}", self._make_te(time_emb_dim, w[i - 1]))
        for j in range(1, depth + 1):
            setattr(self, f"up{j}", up_layer(w[depth - j + 1], w[depth - j]))
            setattr(self, f"te{j}_up", self._make_te(time_emb_dim, w[depth - j + 1]))
        self.last_conv = nn.Conv2d(w[0], in_channels, 1)

    @staticmethod
    def _make_te(dim_in, dim_out):
        return nn.Sequential(nn.Linear(dim_in, dim_out), nn.SiLU(), nn.Linear(dim_out, dim_out))

    def forward(self, x, t):
        t = self.time_embed(t)
        n = len(x)
        xs = [self.conv1(x + self.te1(t).reshape(n, -1, 1, 1))]
        for i in range(1, self.depth + 1):
            te = getattr(self, f"te{i + 1}")(t).reshape(n, -1, 1, 1)
            xs.append(getattr(self, f"down{i}")(xs[-1] + te))
        u = xs[-1]
        for j in range(1, self.depth + 1):
            te = getattr(self, f"te{j}_up")(t).reshape(n, -1, 1, 1)
            u = getattr(self, f"up{j}")(xs[self.depth - j], u + te)
        return self.last_conv(u)


def config_from_state_dict(sd):
    """(in_channels, n_steps, time_emb_dim, base, depth) implied by a state dict."""
    w = sd["conv1.conv.0.weight"]
    n_steps, dim = sd["time_embed.weight"].shape
    depth = 0
    while f"down{depth + 1}.conv.conv.0.weight" in sd:
        depth += 1
    return dict(in_channels=w.shape[1], n_steps=n_steps, time_emb_dim=dim, base=w.shape[0], depth=depth)
