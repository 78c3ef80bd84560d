"""Small fully connected generator and discriminator used by the toy (1-D and 2-D) modes."""

from __future__ import annotations

import contextlib
import threading

import torch
from torch import nn

# torch's global random generator is one per process, and module constructors draw their initial
# weights from it: a build seeded on one thread (Trainer.reset) and a build on another (the image mode's
# metric classifier, in the background) must not interleave, or the same seed gives another start.
_SEEDED_BUILD = threading.Lock()


@contextlib.contextmanager
def seeded_build(seed: int | None):
    """Build modules from torch's global generator, seeded with `seed` (None: as it stands), without
    another thread's build drawing from it meanwhile; the generator's state is restored afterwards."""
    with _SEEDED_BUILD, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield


def mlp(n_in: int, n_out: int, hidden: int, layers: int, activation: type[nn.Module] = nn.LeakyReLU) -> nn.Sequential:
    """`layers` hidden layers of width `hidden`, then a linear output layer."""
    modules: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), activation()]
        width = hidden
    modules.append(nn.Linear(width, n_out))
    return nn.Sequential(*modules)


ACTIVATIONS: dict[str, type[nn.Module]] = {"leakyrelu": nn.LeakyReLU, "elu": nn.ELU, "silu": nn.SiLU, "tanh": nn.Tanh}


class Generator(nn.Module):
    """x = G(z): maps noise of dimension `noise_dim` to a point in R^`data_dim`."""

    def __init__(self, noise_dim: int, data_dim: int, hidden: int, layers: int, activation: str = "leakyrelu"):
        super().__init__()
        self.net = mlp(noise_dim, data_dim, hidden, layers, ACTIVATIONS[activation])

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    """Returns the logit of D(x); D(x) = sigmoid(logit) is the probability that x is real."""

    def __init__(self, data_dim: int, hidden: int, layers: int, activation: str = "leakyrelu"):
        super().__init__()
        self.net = mlp(data_dim, 1, hidden, layers, ACTIVATIONS[activation])

    def forward(self, x):
        return self.net(x).squeeze(-1)
