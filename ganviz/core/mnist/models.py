"""Generator and discriminator for 28×28 grey images: a small DCGAN (default) and an MLP."""

from __future__ import annotations

from torch import nn

SIDE = 28
PIXELS = SIDE * SIDE
ARCHS = ("conv", "mlp")


class ConvGenerator(nn.Module):
    """DCGAN-style G (Radford et al. 2016): z → 7×7 → 14×14 → 28×28 by transposed convolutions, tanh out.

    BatchNorm in G only: it steadies G's updates, and D keeps no batch statistics so the trainer
    may pass real and fake through D together."""

    def __init__(self, noise_dim: int, width: int = 64):
        super().__init__()
        self.width = width
        self.project = nn.Sequential(
            nn.Linear(noise_dim, 2 * width * 7 * 7, bias=False),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(inplace=True),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # 7 → 14
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # 14 → 28
            nn.Tanh(),
        )

    def forward(self, z):
        return self.up(self.project(z).view(-1, 2 * self.width, 7, 7))


class ConvDiscriminator(nn.Module):
    """DCGAN-style D: two strided convolutions with LeakyReLU, no BatchNorm; returns one logit per image."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),  # 28 → 14
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # 14 → 7
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(-1)


class MlpGenerator(nn.Module):
    """Fully connected G of the original paper's MNIST experiments: z → hidden layers → 784 pixels."""

    def __init__(self, noise_dim: int, hidden: int = 256, layers: int = 2):
        super().__init__()
        modules: list[nn.Module] = []
        width = noise_dim
        for i in range(layers):
            out = hidden * 2 ** i
            modules += [nn.Linear(width, out), nn.LeakyReLU(0.2, inplace=True)]
            width = out
        modules += [nn.Linear(width, PIXELS), nn.Tanh()]
        self.net = nn.Sequential(*modules)

    def forward(self, z):
        return self.net(z).view(-1, 1, SIDE, SIDE)


class MlpDiscriminator(nn.Module):
    """Fully connected D: 784 pixels → hidden layers → one logit."""

    def __init__(self, hidden: int = 256, layers: int = 2):
        super().__init__()
        modules: list[nn.Module] = [nn.Flatten()]
        width = PIXELS
        for i in reversed(range(layers)):
            out = hidden * 2 ** i
            modules += [nn.Linear(width, out), nn.LeakyReLU(0.2, inplace=True)]
            width = out
        modules.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*modules)

    def forward(self, x):
        return self.net(x).squeeze(-1)


def build_generator(arch: str, noise_dim: int, hidden: int, layers: int) -> nn.Module:
    if arch == "conv":
        return ConvGenerator(noise_dim, hidden)
    return MlpGenerator(noise_dim, hidden, layers)


def build_discriminator(arch: str, hidden: int, layers: int) -> nn.Module:
    if arch == "conv":
        return ConvDiscriminator(hidden)
    return MlpDiscriminator(hidden, layers)
