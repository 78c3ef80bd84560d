"""Generator and discriminator for 28×28 grey images: a small DCGAN (default), its unregularised
first version, and an MLP; and the moving average of G's weights that the image mode shows."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganviz.core.modes import MNIST_ARCHS

SIDE = 28
PIXELS = SIDE * SIDE
# "conv": DCGAN with spectral normalisation in D; "mlp": fully connected, as in Goodfellow et al.
# (2014); "conv-legacy": the DCGAN without spectral normalisation and without the average of G,
# kept because it shows what an unregularised D does (a plateau of malformed digits).
ARCHS = tuple(MNIST_ARCHS)
# Weight of the moving average of G: θ_avg ← β θ_avg + (1 − β) θ after every G update, with
# β = min(AVERAGE_DECAY, (1 + t)/(10 + t)) so that the first updates are not averaged with the
# random initialisation (the grid would show noise for ~1/(1 − β) iterations).
AVERAGE_DECAY = 0.999


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
    """DCGAN-style D: two strided convolutions with LeakyReLU, no BatchNorm; returns one logit per image.

    With `spectral`, every layer's weight is divided by its largest singular value (Miyato et al.
    2018): D is then 1-Lipschitz per layer, its gradients to G cannot grow without bound, and the
    digits keep improving instead of stalling."""

    def __init__(self, width: int = 64, spectral: bool = False):
        super().__init__()
        norm = spectral_norm if spectral else (lambda layer: layer)
        self.net = nn.Sequential(
            norm(nn.Conv2d(1, width, 4, stride=2, padding=1)),  # 28 → 14
            nn.LeakyReLU(0.2, inplace=True),
            norm(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)),  # 14 → 7
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            norm(nn.Linear(2 * width * 7 * 7, 1)),
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


class AveragedGenerator(nn.Module):
    """G (`net`, trained as usual) with an exponential moving average of its weights (`average`).

    Training calls this module like G itself; `average` is what the image mode shows and scores:
    the last iterates of GAN training circle around a good G, and their average sits nearer to it
    (Yazıcı et al. 2019). The average's weights are buffers, not parameters, so the optimizer never
    sees them, and they travel with G's state_dict into checkpoints (a resumed run goes on bit for
    bit). The trainer calls `after_optimizer_step()` after every update of G; it runs on the device
    with no host sync."""

    def __init__(self, net: nn.Module, decay: float = AVERAGE_DECAY):
        super().__init__()
        self.net = net
        self.decay = decay
        self.average = _as_buffers(copy.deepcopy(net))
        self.register_buffer("average_updates", torch.zeros(()))  # t, a tensor so it needs no sync

    def forward(self, z):
        return self.net(z)

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        t = self.average_updates
        weight = torch.clamp(9.0 / (10.0 + t), min=1.0 - self.decay)  # 1 − β
        torch._foreach_lerp_(list(self.average.buffers()), list(self.net.parameters()), weight)
        t.add_(1.0)


def _as_buffers(module: nn.Module) -> nn.Module:
    """`module` with each parameter turned into a buffer of the same name (same forward, no gradients).
    BatchNorm's running statistics are dropped from the copy so that its buffers are exactly the
    averaged weights, in the order of net.parameters() (the image mode normalises by batch statistics)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
        for name, p in list(m._parameters.items()):
            if p is not None:
                del m._parameters[name]
                m.register_buffer(name, p.detach().clone())
    return module


def build_generator(arch: str, noise_dim: int, hidden: int, layers: int) -> nn.Module:
    if arch == "mlp":
        G = MlpGenerator(noise_dim, hidden, layers)
    else:
        G = ConvGenerator(noise_dim, hidden)
    return G if arch == "conv-legacy" else AveragedGenerator(G)


def build_discriminator(arch: str, hidden: int, layers: int) -> nn.Module:
    if arch == "mlp":
        return MlpDiscriminator(hidden, layers)
    return ConvDiscriminator(hidden, spectral=arch == "conv")
