"""Generator and discriminator for 28×28 grey images: a small DCGAN (default), its unregularised
first version, and an MLP; and the moving average of G's weights that the image mode shows."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganviz.core.modes import MNIST_ARCHS

SIDE = 28
PIXELS = SIDE * SIDE
# "conv": DCGAN whose D has four convolutions, an R1 penalty and sees randomly shifted images;
# "mlp": fully connected, as in Goodfellow et al. (2014); "conv-legacy": the first DCGAN
# (two convolutions in D, no normalisation, no shifts, no average of G), kept because it shows what
# an unregularised D does (a plateau of malformed digits).
ARCHS = tuple(MNIST_ARCHS)
# Weight of the moving average of G: θ_avg ← β θ_avg + (1 − β) θ after every G update, with
# β = min(AVERAGE_DECAY, (1 + t)/(10 + t)) so that the first updates are not averaged with the
# random initialisation (the grid would show noise for ~1/(1 − β) iterations).
AVERAGE_DECAY = 0.999
# Pixels by which D's inputs are shifted each way while it trains (conv): 3 of 28, an eighth of the
# side as in DiffAugment's translation (Zhao et al. 2020).
SHIFT = 3
BACKGROUND = -1.0  # the grey level of the images' empty border, in the [-1, 1] units D sees
# γ of the R1 penalty on D per model (losses.r1_penalty, taken lazily by the Trainer). conv: 1. Measured
# on the bundled subset (k_G = 2, non-saturating loss, two threads): 7.5 at 7,000 iterations (300 s)
# and 7.9 / FD 4.9 at 12,000 (523 s), where spectral normalisation in its place had 7.0 and 7.3 / 8.0;
# γ = 0.1 and 10 were lower at 4,000 iterations (6.4 / 16 and 6.3 / 17 against 6.6 / 12).
R1_GAMMA = {"conv": 1.0}


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
    """DCGAN-style D: strided convolutions with LeakyReLU, no BatchNorm; returns one logit per image.

    Shallow (conv-legacy): 28 → 14 → 7, then one linear unit over the 7×7 map. Such a D judges an
    image by a sum of evidence from 10×10-pixel patches, so G is never told that a stroke is in the
    wrong place for a digit: the digits stay malformed. `deep` adds a 3×3 convolution at 7×7 and one
    to 4×4 (units that see the whole digit) before the linear unit. Measured on the bundled subset at
    10,000 iterations (batch 32, shifted inputs): FD 28 → 13 with the convolution to 4×4 alone, → 9.4
    with both; score 6.0 → 6.8 → 7.1.

    With `spectral`, every layer's weight is divided by its largest singular value (Miyato et al.
    2018): D is then 1-Lipschitz per layer, its gradients to G cannot grow without bound, and the
    digits keep improving instead of stalling. `conv` used it until 2026-12-05; an R1 penalty
    (R1_GAMMA) now does that job there, and faster (see R1_GAMMA)."""

    def __init__(self, width: int = 64, spectral: bool = False, deep: bool = False):
        super().__init__()
        norm = spectral_norm if spectral else (lambda layer: layer)
        layers: list[nn.Module] = [
            norm(nn.Conv2d(1, width, 4, stride=2, padding=1)),  # 28 → 14
            nn.LeakyReLU(0.2, inplace=True),
            norm(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)),  # 14 → 7
            nn.LeakyReLU(0.2, inplace=True),
        ]
        channels, side = 2 * width, 7
        if deep:
            layers += [norm(nn.Conv2d(channels, channels, 3, padding=1)),  # 7 → 7
                       nn.LeakyReLU(0.2, inplace=True),
                       norm(nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1)),  # 7 → 4
                       nn.LeakyReLU(0.2, inplace=True)]
            channels, side = 2 * channels, 4
        self.net = nn.Sequential(*layers, nn.Flatten(), norm(nn.Linear(channels * side * side, 1)))

    def forward(self, x):
        return self.net(x).squeeze(-1)


class ShiftedInputs(nn.Module):
    """D that, while it trains, sees every image (real and generated alike) shifted by a random whole
    number of pixels, up to `shift` each way, the uncovered border filled with the background.

    This is DiffAugment's translation (Zhao et al. 2020): with 5,000 training images D otherwise
    learns the images by heart and stops teaching G about digits. Both kinds of images are shifted
    the same way and G is differentiated through the shift, so G is not pushed to make shifted digits.
    Measured (eval mode: V(G, D), D(x), D(G(z)), the strip) D sees images as they are.

    The shifts are drawn from the module's own generator, reseeded from (seed, draws made) at every
    call, and `draws` travels in the state_dict: a resumed run shifts exactly as the straight one."""

    def __init__(self, net: nn.Module, shift: int = SHIFT, seed: int = 0):
        super().__init__()
        self.net, self.shift, self.seed, self.draws = net, shift, int(seed), 0
        self._gen: torch.Generator | None = None

    def forward(self, x):
        if self.training and self.shift > 0:
            x = self._shifted(x)
        return self.net(x)

    def _shifted(self, x: torch.Tensor) -> torch.Tensor:
        if self._gen is None or self._gen.device != x.device:
            self._gen = torch.Generator(device=x.device)
        self._gen.manual_seed((self.seed * 1_000_003 + self.draws) % 2 ** 63)
        self.draws += 1
        n, channels, h, w = x.shape
        s = self.shift
        padded = F.pad(x, (s, s, s, s), value=BACKGROUND)
        offsets = torch.randint(0, 2 * s + 1, (2, n, 1, 1), device=x.device, generator=self._gen)
        rows = torch.arange(h, device=x.device).view(1, h, 1) + offsets[0]
        cols = torch.arange(w, device=x.device).view(1, 1, w) + offsets[1]
        images = torch.arange(n, device=x.device).view(n, 1, 1)
        return padded[images, :, rows, cols].permute(0, 3, 1, 2)  # (n, h, w, c) → (n, c, h, w)

    def get_extra_state(self):
        return {"seed": self.seed, "draws": self.draws}

    def set_extra_state(self, state) -> None:
        self.seed, self.draws = int(state["seed"]), int(state["draws"])


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
    """D of the model `arch`. Built under models.seeded_build, so the shifts' seed (drawn from torch's
    generator like the weights) follows the run's seed."""
    if arch == "mlp":
        return MlpDiscriminator(hidden, layers)
    if arch == "conv-legacy":
        return ConvDiscriminator(hidden)
    seed = int(torch.randint(2 ** 62, ()))
    return ShiftedInputs(ConvDiscriminator(hidden, deep=True), SHIFT, seed)  # regularised by R1 (R1_GAMMA)
