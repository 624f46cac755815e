"""PyTorch reference of the same DCGAN, for bench/train_speed.py only (torch==2.13.0, CPU).

Same layers, sizes, batch-norm placement, losses, Adam settings and update schedule (1 D + 2 G
updates) as dcgan/model.py, written the way a careful PyTorch user would for speed: channels_last
memory format, G's output detached for D's update, D's weights frozen during G's updates (so
neither framework computes gradients it does not use, and both do the same FLOPs).
"""

import itertools
import math

import torch
from torch import nn


def _sizes(size, halvings):
    sizes = [size]
    for _ in range(halvings):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


class Generator(nn.Module):
    """z -> linear -> 4 transposed 5x5 stride-2 convolutions (BN + ReLU between) -> tanh."""

    def __init__(self, cfg):
        super().__init__()
        gf = cfg.gf_dim
        self.s_h, self.s_w = _sizes(cfg.output_height, 4)[-1], _sizes(cfg.output_width, 4)[-1]
        self.gf = gf
        self.lin = nn.Linear(cfg.z_dim, gf * 8 * self.s_h * self.s_w)
        self.bn0 = nn.BatchNorm2d(gf * 8, momentum=0.1, eps=1e-5)
        channels = [gf * 8, gf * 4, gf * 2, gf, cfg.c_dim]
        layers = []
        for index, (cin, cout) in enumerate(itertools.pairwise(channels)):
            layers.append(nn.ConvTranspose2d(cin, cout, 5, 2, padding=2, output_padding=1))
            if index < 3:
                layers += [nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5), nn.ReLU()]
        layers.append(nn.Tanh())
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z):
        """Images [b, c, h, w] in [-1, 1]."""
        h = self.lin(z).view(-1, self.gf * 8, self.s_h, self.s_w)
        h = torch.relu(self.bn0(h)).contiguous(memory_format=torch.channels_last)
        return self.deconvs(h)


class Discriminator(nn.Module):
    """4 strided 5x5 convolutions (BN after all but the first, leaky ReLU 0.2) -> linear."""

    def __init__(self, cfg):
        super().__init__()
        df = cfg.df_dim
        channels = [cfg.c_dim, df, df * 2, df * 4, df * 8]
        layers = []
        for index, (cin, cout) in enumerate(itertools.pairwise(channels)):
            layers.append(nn.Conv2d(cin, cout, 5, 2, padding=2))
            if index:
                layers.append(nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
        self.convs = nn.Sequential(*layers)
        s_h, s_w = _sizes(cfg.output_height, 4)[-1], _sizes(cfg.output_width, 4)[-1]
        self.lin = nn.Linear(df * 8 * s_h * s_w, 1)

    def forward(self, images):
        """Logits [b, 1]."""
        return self.lin(torch.flatten(self.convs(images), 1))


def _init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


class TorchDCGAN:
    """Both networks, their Adam optimisers and one training iteration (`iteration()`)."""

    def __init__(self, cfg, batch_size, bf16=False, g_steps=2, lr=2e-4, beta1=0.5):
        self.cfg, self.batch_size, self.bf16, self.g_steps = cfg, batch_size, bf16, g_steps
        self.g = Generator(cfg).to(memory_format=torch.channels_last)
        self.d = Discriminator(cfg).to(memory_format=torch.channels_last)
        self.g.apply(_init)
        self.d.apply(_init)
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr, betas=(beta1, 0.999), eps=1e-8)
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr, betas=(beta1, 0.999), eps=1e-8)
        self.loss = nn.BCEWithLogitsLoss()
        self.ones = torch.ones(batch_size, 1)
        self.zeros = torch.zeros(batch_size, 1)

    def _z(self):
        return torch.rand(self.batch_size, self.cfg.z_dim) * 2 - 1

    def _autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)

    def iteration(self, real):
        """One D update on `real` [b, c, h, w] (channels_last) and g_steps G updates.

        Returns (d_loss, g_loss) as floats (read every iteration, as the TF loop does).
        """
        self.d.requires_grad_(True)
        with self._autocast():
            with torch.no_grad():
                fake = self.g(self._z())
            d_loss = (self.loss(self.d(real).float(), self.ones)
                      + self.loss(self.d(fake).float(), self.zeros))
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        self.d.requires_grad_(False)
        for _ in range(self.g_steps):
            with self._autocast():
                g_loss = self.loss(self.d(self.g(self._z())).float(), self.ones)
            self.g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_opt.step()
        return d_loss.item(), g_loss.item()
