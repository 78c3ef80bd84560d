"""Lanes of one architecture trained together: Algorithm 1 for L GANs in one batched step.

A lane is a Trainer (its modules, optimizers, random generator and counters stay the canonical
state of the run, which is what is measured, saved and restored). A BatchedGroup stacks the
weights of its lanes' G and D into (L, …) tensors and makes every lane's nn.Linear parameters
views of its slice, so measuring a lane reads the current weights with no copy. Each batched
step is exactly Algorithm 1 for every lane with that lane's own k, learning rates, generator loss
and random stream: lane l draws its samples from its own generator in the same order a lone
Trainer would, masks out the D updates beyond its k and its G update while G is frozen, and has
its own Adam moments and step count. Adam is written out below because torch's optimizers take
one learning rate per parameter group, not per lane.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganviz.core import losses
from ganviz.core.oracle import DStarGrid
from ganviz.core.trainer import Trainer


class NotBatchable(Exception):
    """The lanes' models cannot be stacked (not a chain of Linear layers and elementwise modules)."""


def _chain(module: nn.Module) -> tuple[list[nn.Linear], list[nn.Module | int]]:
    """The leaves of `module` in registration order: Linear layers become their index in the
    returned list, parameterless leaves (activations, fixed affine maps) are applied as they are."""
    linears: list[nn.Linear] = []
    ops: list[nn.Module | int] = []
    for leaf in module.modules():
        if any(True for _ in leaf.children()):
            continue
        if isinstance(leaf, nn.Linear):
            if leaf.bias is None:
                raise NotBatchable("a Linear layer without bias")
            ops.append(len(linears))
            linears.append(leaf)
        elif any(True for _ in leaf.parameters(recurse=False)):
            raise NotBatchable(f"{type(leaf).__name__} has parameters")
        else:
            ops.append(leaf)
    return linears, ops


class _Stack:
    """The parameters of one network (G or D) of every lane as one (L, P) tensor (lane l's weights
    in row l, layer by layer), and their Adam state. One flat tensor keeps the optimizer step at a
    handful of tensor operations whatever the depth of the network."""

    def __init__(self, modules: list[nn.Module], optimizers: list[torch.optim.Optimizer], kind: str):
        per_lane = [_chain(m) for m in modules]
        self.ops = per_lane[0][1]
        layers = [linears for linears, _ in per_lane]
        self.kind = kind
        L = len(modules)
        # (start, end, shape of one lane's tensor) of each weight and bias in a row of the flat tensor
        self.slots: list[tuple[int, int, torch.Size]] = []
        at = 0
        for lin in layers[0]:
            for p in (lin.weight, lin.bias):
                self.slots.append((at, at + p.numel(), p.shape))
                at += p.numel()
        device = layers[0][0].weight.device
        flat = torch.empty(L, at, device=device)
        self._lane_params = [[p for lin in lane for p in (lin.weight, lin.bias)] for lane in layers]
        for l, params in enumerate(self._lane_params):
            for (a, b, _), p in zip(self.slots, params):
                flat[l, a:b] = p.detach().reshape(-1)
        self.flat = flat.requires_grad_(True)
        # Every lane's own Parameters become views of its row (same storage).
        rows = self.flat.detach()
        for l, params in enumerate(self._lane_params):
            for (a, b, shape), p in zip(self.slots, params):
                p.data = rows[l, a:b].view(shape)
        # Adam moments, laid out like the parameters; step counts per lane.
        self.exp_avg = torch.zeros_like(rows)
        self.exp_avg_sq = torch.zeros_like(rows)
        self.steps = torch.zeros(L, dtype=torch.float64, device=device)
        for l, opt in enumerate(optimizers):
            for (a, b, _), p in zip(self.slots, self._lane_params[l]):
                state = opt.state.get(p)
                if not state:
                    continue
                if "exp_avg" in state:
                    self.exp_avg[l, a:b] = state["exp_avg"].reshape(-1)
                    self.exp_avg_sq[l, a:b] = state["exp_avg_sq"].reshape(-1)
                self.steps[l] = float(state.get("step", 0))
        self.optimizers = optimizers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (L, n, in) → (L, n, out) through every lane's own network."""
        L = self.flat.shape[0]
        owned = False  # x is a tensor this forward made (never the caller's input)
        for op in self.ops:
            if isinstance(op, int):
                (wa, wb, (out, inp)), (ba, bb, _) = self.slots[2 * op], self.slots[2 * op + 1]
                weight = self.flat[:, wa:wb].view(L, out, inp)
                bias = self.flat[:, ba:bb].view(L, 1, out)
                x = torch.baddbmm(bias, x, weight.transpose(1, 2))
                owned = True
            elif owned and isinstance(op, nn.LeakyReLU) and op.negative_slope > 0:
                # In place on the layer's own output (autograd keeps the result, enough for a positive
                # slope): the same numbers, one (L, n, width) tensor fewer per layer. +6% for 16 1-D lanes.
                x = F.leaky_relu_(x, op.negative_slope)
            else:
                x = op(x)
                owned = True
        return x

    @torch.no_grad()
    def update(self, grad: torch.Tensor, mask: torch.Tensor, lr: torch.Tensor, adam: bool,
               betas: tuple[float, float] = (0.5, 0.999)) -> None:
        """One optimizer step for the lanes in `mask` (float 0/1, (L,)) at their own rates `lr` (L,)."""
        flat = self.flat
        dtype = flat.dtype
        m2 = mask.to(dtype).view(-1, 1)
        self.steps += mask
        if not adam:  # plain SGD, as torch.optim.SGD without momentum
            flat.sub_(grad * (lr * mask).to(dtype).view(-1, 1))
            return
        (b1, b2), eps = betas, 1e-8  # the lanes' Adam betas (one per group), torch's eps
        t = self.steps
        bc1 = torch.where(t > 0, 1 - b1 ** t, torch.ones_like(t))
        bc2 = torch.where(t > 0, 1 - b2 ** t, torch.ones_like(t))
        self.exp_avg.lerp_(grad, (1 - b1) * m2)
        self.exp_avg_sq.mul_(1 - (1 - b2) * m2).addcmul_(grad * m2, grad, value=1 - b2)
        denom = (self.exp_avg_sq.sqrt() / bc2.sqrt().to(dtype).view(-1, 1)).add_(eps)
        flat.addcdiv_(self.exp_avg * (lr * mask / bc1).to(dtype).view(-1, 1), denom, value=-1.0)

    def clamp_(self, lanes: torch.Tensor, bound: float) -> None:
        """Clip the weights of the lanes in `lanes` (bool, (L,)) to [-bound, bound] (WGAN's critic)."""
        with torch.no_grad():
            self.flat.copy_(torch.where(lanes.view(-1, 1), self.flat.clamp(-bound, bound), self.flat))

    def write_back(self, detach: bool) -> None:
        """Give each lane's optimizer its Adam state (and, with `detach`, its own parameter storage)."""
        for l, opt in enumerate(self.optimizers):
            step = float(self.steps[l])
            for (a, b, shape), p in zip(self.slots, self._lane_params[l]):
                if detach:
                    p.data = p.data.clone()
                if step == 0:
                    opt.state.pop(p, None)
                    continue
                old = opt.state.get(p) or {}
                step_t = old.get("step")
                dtype = step_t.dtype if isinstance(step_t, torch.Tensor) else torch.float32
                device = step_t.device if isinstance(step_t, torch.Tensor) else p.device
                state = {"step": torch.tensor(step, dtype=dtype, device=device)}
                if isinstance(opt, torch.optim.Adam):
                    state["exp_avg"] = self.exp_avg[l, a:b].reshape(shape).clone()
                    state["exp_avg_sq"] = self.exp_avg_sq[l, a:b].reshape(shape).clone()
                opt.state[p] = state


class SequentialGroup:
    """One lane (or lanes that cannot be stacked, e.g. convolutional): each trains with its own Trainer."""

    def __init__(self, trainers: list[Trainer]):
        self.trainers = trainers

    def step(self, n: int, active: list[bool], d_only: bool = False) -> None:
        for trainer, on in zip(self.trainers, active):
            if on:
                trainer.step(n)

    def write_back(self, detach: bool = False) -> None:
        pass


class BatchedGroup:
    """Lanes with one architecture (same mode, target, noise, model size, batch, optimizer, device)."""

    def __init__(self, trainers: list[Trainer]):
        if len({(t.cfg.optimizer, t.cfg.beta1, t.cfg.beta2, losses.family(t.cfg.loss)) for t in trainers}) != 1:
            raise NotBatchable("lanes with different optimizers or loss families")
        self.trainers = trainers
        self.adam = trainers[0].cfg.optimizer == "adam"
        first = trainers[0]
        self.device = first.device
        self._check_chain(first)
        self.G = _Stack([t.G for t in trainers], [t.opt_g for t in trainers], "G")
        self.D = _Stack([t.D for t in trainers], [t.opt_d for t in trainers], "D")
        m = first.cfg.batch
        with torch.no_grad():
            probe = first.task.sample_real(2, torch.Generator(device=self.device).manual_seed(0))
        self._zero_real = torch.zeros((m, *probe.shape[1:]), device=self.device)
        self._zero_noise = torch.zeros((m, first.cfg.noise_dim), device=self.device)
        self._zero_eps = torch.zeros((m, 1), device=self.device)
        L = len(trainers)
        self._d_sum = torch.zeros(L, device=self.device)
        self._g_sum = torch.zeros(L, device=self.device)

    @staticmethod
    def _check_chain(trainer: Trainer) -> None:
        """The chain of leaves must compute what the module's own forward computes."""
        for net, width in ((trainer.G, trainer.cfg.noise_dim), (trainer.D, None)):
            linears, ops = _chain(net)
            if width is None:
                width = linears[0].in_features
            x = torch.randn(1, 5, width, device=trainer.device)
            with torch.no_grad():
                y = x
                for op in ops:
                    y = F.linear(y, linears[op].weight, linears[op].bias) if isinstance(op, int) else op(y)
                own = net(x[0])
            if own.shape != y[0].reshape(own.shape).shape or not torch.allclose(own, y[0].reshape(own.shape), atol=1e-5):
                raise NotBatchable(f"{type(net).__name__}'s forward is not the chain of its layers")

    def _stack_inputs(self, draw, mask: list[bool], zero: torch.Tensor) -> torch.Tensor:
        return torch.stack([draw(t) if on else zero for t, on in zip(self.trainers, mask)])

    def step(self, n: int, active: list[bool], d_only: bool = False) -> None:
        trainers = self.trainers
        device = self.device
        f64 = torch.float64
        m = trainers[0].cfg.batch
        betas = (trainers[0].cfg.beta1, trainers[0].cfg.beta2)
        ks = [t.cfg.k for t in trainers]
        k_gs = [t.cfg.k_g if a and not (d_only or t.g_frozen) else 0 for a, t in zip(active, trainers)]
        lane_losses = [t.cfg.loss for t in trainers]
        lr_d = torch.tensor([t.cfg.lr_d * t.lr_scale_d for t in trainers], dtype=f64, device=device)
        lr_g = torch.tensor([t.cfg.lr_g for t in trainers], dtype=f64, device=device)
        k_max = max((k for k, a in zip(ks, active) if a), default=0)
        d_masks = [[a and j < k for a, k in zip(active, ks)] for j in range(k_max)]
        d_mask_t = [torch.tensor(mask, dtype=f64, device=device) for mask in d_masks]
        g_masks = [[j < k for k in k_gs] for j in range(max(k_gs))]
        g_mask_t = [torch.tensor(mask, dtype=f64, device=device) for mask in g_masks]
        penalised = [loss == "wgan-gp" for loss in lane_losses]
        clipped = torch.tensor([loss == "wgan" for loss in lane_losses], device=device)
        clip_any = "wgan" in lane_losses  # from the settings: no host sync
        no_loss = torch.zeros((), device=device)
        gp_t = torch.tensor(penalised, dtype=torch.float32, device=device)
        by_loss = {loss: torch.tensor([l == loss for l in lane_losses], device=device) for loss in set(lane_losses)}
        oracle = [t.cfg.d_oracle for t in trainers]  # lanes whose G trains against the exact D* (THEORY.md §7)
        oracle_t = torch.tensor(oracle, device=device)
        first = lane_losses[0]  # one family per group: the same D objective for every lane
        critic = lambda x: self.D.forward(x).squeeze(-1)  # noqa: E731
        for _ in range(n):
            # (1) k_l times for lane l: ascend V(G, D) = E[log D(x)] + E[log(1 - D(G(z)))]
            #     (or the critic's objective of the lanes' loss).
            for mask, mask_t in zip(d_masks, d_mask_t):
                real = self._stack_inputs(lambda t: t.task.sample_real(m, t.gen), mask, self._zero_real)
                noise = self._stack_inputs(lambda t: t.task.sample_noise(m, t.gen), mask, self._zero_noise)
                with torch.no_grad():
                    fake = self.G.forward(noise)
                out = critic(torch.cat((real, fake), dim=1))
                loss_d = losses.d_loss(out[:, :m], out[:, m:], first)
                if any(penalised):
                    gp_on = [a and b for a, b in zip(mask, penalised)]
                    eps = torch.stack([torch.rand((m, 1), generator=t.gen, device=device) if on
                                       else self._zero_eps for t, on in zip(trainers, gp_on)])
                    loss_d = loss_d + gp_t * losses.gradient_penalty(critic, real, fake, eps)
                (grad,) = torch.autograd.grad(loss_d.sum(), [self.D.flat])
                self.D.update(grad, mask_t, lr_d, self.adam, betas)
                if clip_any:
                    self.D.clamp_(clipped, losses.WGAN_CLIP)
                self._d_sum += loss_d.detach() * mask_t.to(loss_d.dtype)
            # (2) k_G times for lane l (once in the paper), unless G is frozen: descend the lane's
            #     generator loss, e.g. log(1 - D(G(z))) (minimax) or -log D(G(z)) (non-saturating).
            #     With d_oracle, against each lane's own exact D* of its current P_G, fixed during the update.
            for mask, mask_t in zip(g_masks, g_mask_t):
                d_star = self._d_star(oracle, mask)
                noise = self._stack_inputs(lambda t: t.task.sample_noise(m, t.gen), mask, self._zero_noise)
                fake = self.G.forward(noise)
                loss_g = no_loss
                if not all(o for o, on in zip(oracle, mask) if on):
                    out = critic(fake)
                    loss_g = sum(torch.where(on, losses.g_loss(out, loss), no_loss) for loss, on in by_loss.items())
                if d_star is not None:
                    d = d_star(fake)
                    loss_o = sum(torch.where(on, losses.g_loss_of_probability(d, loss), no_loss)
                                 for loss, on in by_loss.items())
                    loss_g = torch.where(oracle_t, loss_o, loss_g)
                (grad,) = torch.autograd.grad(loss_g.sum(), [self.G.flat])
                self.G.update(grad, mask_t, lr_g, self.adam, betas)
                self._g_sum += loss_g.detach() * mask_t.to(loss_g.dtype)
        # Counters and loss sums into each lane's Trainer, as if it had stepped itself.
        for l, t in enumerate(trainers):
            if not active[l]:
                continue
            t._d_loss_sum += self._d_sum[l]
            t._d_count += ks[l] * n
            t.d_updates += ks[l] * n
            if k_gs[l]:
                t._g_loss_sum += self._g_sum[l]
                t._g_count += k_gs[l] * n
                t.g_updates += k_gs[l] * n
            if not t.fitting_d:  # Fit D*'s D-only iterations are not training iterations
                t.iteration += n
        self._d_sum.zero_()
        self._g_sum.zero_()

    def _d_star(self, oracle: list[bool], mask: list[bool]) -> DStarGrid | None:
        """The exact D* of every oracle lane in `mask` (its own P_G, read through its own G, whose weights are
        views of its row), stacked for the batched step; other lanes get a table of zeros they never use."""
        grids = {l: t.task.d_star_grid(t.G) for l, (t, o, on) in enumerate(zip(self.trainers, oracle, mask)) if o and on}
        if not grids:
            return None
        some = next(iter(grids.values()))
        blank = DStarGrid(torch.zeros_like(some.values), some.lo, some.hi, torch.zeros_like(some.outside))
        return DStarGrid.stack([grids.get(l, blank) for l in range(len(self.trainers))])

    def write_back(self, detach: bool = False) -> None:
        """Each lane's optimizer gets its Adam state; with `detach` the lanes stop sharing storage
        (before the group is dissolved)."""
        self.G.write_back(detach)
        self.D.write_back(detach)


def make_groups(trainers: list[Trainer], keys: list[tuple], batchable: bool) -> list[SequentialGroup | BatchedGroup]:
    """Lanes with equal keys train in one BatchedGroup when there are several and the mode allows it."""
    by_key: dict[tuple, list[Trainer]] = {}
    for trainer, key in zip(trainers, keys):
        by_key.setdefault(key, []).append(trainer)
    groups: list[SequentialGroup | BatchedGroup] = []
    for members in by_key.values():
        if batchable and len(members) > 1:
            try:
                groups.append(BatchedGroup(members))
                continue
            except NotBatchable:
                pass
        groups.append(SequentialGroup(members))
    return groups
