"""Algorithm 1 of Goodfellow et al. (2014): k discriminator updates, then one generator update.

The trainer knows nothing about the mode: a Task supplies P_data, P_z, G, D and the metrics.
Settings the user may turn while training (k, the two learning rates, the generator loss,
freezing G, training G against the exact D*) are applied between iterations with `update()` and never reset optimizer state.
"""

from __future__ import annotations

import math

import torch

from ganviz.core import losses
from ganviz.core.config import TrainConfig
from ganviz.core.device import describe, pick_device
from ganviz.core.models import seeded_build
from ganviz.core.task import Evaluation, Task

LIVE_SETTINGS = ("k", "k_g", "lr_d", "lr_g", "loss", "freeze_g", "d_oracle")


class NonFiniteError(RuntimeError):
    """Training produced NaN or inf; the run cannot continue without a reset."""


class OutOfRangeError(NonFiniteError):
    """Training blew up without a NaN: losses or G's samples far outside any sensible range."""


# A task's R1 penalty is lazy, as in StyleGAN2 (Karras et al. 2020): one extra D step every this many
# D updates, on the penalty scaled by the same factor; it costs ~6% of the D updates' time.
R1_EVERY = 16
LOSS_LIMIT = 1e4      # |mean loss| above this: diverged (the GAN losses of a sane run are O(1)-O(10))
EXTENT_FACTOR = 1e3   # |G(z)| above this many times the target's extent: diverged


class Trainer:
    def __init__(self, cfg: TrainConfig, task: Task | None = None):
        cfg.validate()
        self.cfg = cfg
        if task is None:
            from ganviz.core.tasks import make_task

            self.device, self.device_notice = pick_device(cfg.device, cfg.mode)
            task = make_task(cfg, self.device)
        else:  # the one rule: a trainer, its models and its generator live on its task's device
            self.device, self.device_notice = task.device, None
        self.task = task
        self.reset()

    @property
    def device_name(self) -> str:
        return describe(self.device)

    # --- life cycle -----------------------------------------------------------------------------
    def reset(self) -> None:
        """New weights from cfg.seed: the same seed gives the same run."""
        cfg = self.cfg
        with seeded_build(cfg.seed):
            self.G = self.task.build_generator().to(self.device)
            self.D = self.task.build_discriminator().to(self.device)
        self.opt_d = self._optimizer(self.D, cfg.lr_d)
        self.opt_g = self._optimizer(self.G, cfg.lr_g)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.iteration = 0  # iterations of Algorithm 1 (each: k D updates, then one G update)
        self.d_updates = 0
        self.g_updates = 0
        self.d_phase = 0  # D updates done in the current iteration by step_d (it is unfinished until G's)
        self._zero = torch.zeros((), device=self.device)
        self._d_loss_sum = self._zero.clone()
        self._g_loss_sum = self._zero.clone()
        self._d_count = 0
        self._g_count = 0
        self.diverged = False
        # Fit D* freezes G and scales D's rate on top of the user's settings, never in cfg, so that
        # a reset or a change of lr_d during the fit is not undone when the fit ends.
        self.fitting_d = False
        self.lr_scale_d = 1.0
        self._apply_rates()

    @property
    def g_frozen(self) -> bool:
        return self.cfg.freeze_g or self.fitting_d

    def _apply_rates(self) -> None:
        for group in self.opt_d.param_groups:
            group["lr"] = self.cfg.lr_d * self.lr_scale_d
        for group in self.opt_g.param_groups:
            group["lr"] = self.cfg.lr_g

    def _optimizer(self, module: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        """The optimizer of `module`; `module.optimizer_steps` counts its steps (tasks use it to
        tell whether the weights changed: a fused step does not bump the tensors' _version), and
        `module.after_optimizer_step()`, if it has one, runs after each step."""
        if self.cfg.optimizer == "sgd":
            cls, options = torch.optim.SGD, {}
        else:  # betas from the config: (0.5, 0.999) by default, the DCGAN setting
            cls, options = torch.optim.Adam, {"betas": (self.cfg.beta1, self.cfg.beta2)}
        params = list(module.parameters())
        try:
            # One fused kernel per step instead of a Python loop over the parameters: the 1-D GAN
            # trains ~20% faster on a CPU, and holds the GIL (which the window needs) less.
            opt = cls(params, lr=lr, fused=True, **options)
        except (RuntimeError, TypeError):  # a torch or a device without the fused kernel
            opt = cls(params, lr=lr, **options)
        module.optimizer_steps = 0
        # A module that keeps state following its weights (the image mode's average of G) updates it here.
        after_step = getattr(module, "after_optimizer_step", None)

        def count_step(*_):
            module.optimizer_steps += 1
            if after_step is not None:
                after_step()

        opt.register_step_post_hook(count_step)
        return opt

    def update(self, **changes) -> None:
        """Apply live settings (k, k_g, lr_d, lr_g, loss within its family, freeze_g, d_oracle) between iterations,
        keeping optimizer state."""
        unknown = set(changes) - set(LIVE_SETTINGS)
        if unknown:
            raise ValueError(f"not a live setting: {', '.join(sorted(unknown))}")
        new = self.cfg.replace(**changes)  # validates first
        if losses.family(new.loss) != losses.family(self.cfg.loss):
            raise ValueError(f"switching from {self.cfg.loss} to {changes['loss']} changes what D is: "
                             "that needs a new run")
        self.cfg = new
        self._apply_rates()

    def set_fit(self, fitting: bool, lr_scale_d: float = 1.0) -> None:
        """Fit D*'s own state: G frozen while fitting, D's rate scaled (halved at plateaus)."""
        self.fitting_d, self.lr_scale_d = fitting, lr_scale_d
        self._apply_rates()

    # --- Algorithm 1 ----------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        """Run `n` iterations of Algorithm 1 (while G is frozen, only the k D updates of each).

        An iteration left unfinished by step_d() is finished first (its remaining D updates,
        then G). Fit D*'s D-only iterations are not training iterations: they count in
        d_updates only, so the iteration axis counts training alone."""
        if self.task.steps_itself:  # a task with its own update order (the Dirac-GAN's simultaneous steps)
            self.task.step(self, n)
            return
        cfg = self.cfg
        for _ in range(n):
            # (1) k times: update D by ascending V(G, D) = E[log D(x)] + E[log(1 - D(G(z)))]
            #     (or the critic's objective of the chosen loss).
            for _ in range(max(0, cfg.k - self.d_phase)):
                self._d_update()
            self.d_phase = 0
            # (2) k_G times (once in the paper): update G by descending log(1 - D(G(z))) (minimax),
            #     -log D(G(z)) (non-saturating) or the chosen loss's generator objective.
            if not self.g_frozen:
                for _ in range(cfg.k_g):
                    self._g_update()
            if not self.fitting_d:
                self.iteration += 1

    def _d_update(self) -> None:
        """One update of D (step 1 of Algorithm 1) on a fresh minibatch of real and fake samples."""
        cfg, task, G, D, gen = self.cfg, self.task, self.G, self.D, self.gen
        m, loss = cfg.batch, cfg.loss
        real = task.sample_real(m, gen)
        with torch.no_grad():
            fake = G(task.sample_noise(m, gen))
        if task.fused_d_forward:  # one forward pass over real and fake together
            out = D(torch.cat((real, fake)))
            loss_d = losses.d_loss(out[:m], out[m:], loss)
        else:
            loss_d = losses.d_loss(D(real), D(fake), loss)
        if loss == "wgan-gp":
            eps = torch.rand((m,) + (1,) * (real.dim() - 1), generator=gen, device=real.device)
            loss_d = loss_d + losses.gradient_penalty(D, real, fake, eps, real.dim() - 1)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        if loss == "wgan":
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-losses.WGAN_CLIP, losses.WGAN_CLIP)
        self._d_loss_sum += loss_d.detach()
        self._d_count += 1
        self.d_updates += 1
        self.r1_after(self.d_updates)

    def r1_after(self, d_updates: int) -> None:
        """The lazy R1 step (Task.r1_gamma) due after D update number `d_updates` (1, 17, 33, …): D alone,
        on a fresh batch of real samples. Nothing for a task without R1, or between those updates."""
        if not self.task.r1_gamma or (d_updates - 1) % R1_EVERY:
            return
        real = self.task.sample_real(self.cfg.batch, self.gen)
        penalty = losses.r1_penalty(self.D, real, self.task.r1_gamma, real.dim() - 1) * R1_EVERY
        self.opt_d.zero_grad(set_to_none=True)
        penalty.backward()
        self.opt_d.step()

    def _g_update(self) -> None:
        """One update of G (step 2 of Algorithm 1) on a fresh minibatch of noise; with d_oracle against the
        exact D* of the current P_G (THEORY.md §7), computed before the update and fixed during it."""
        cfg, task = self.cfg, self.task
        if cfg.d_oracle:
            d_star = task.d_star_grid(self.G)
            loss_g = losses.g_loss_of_probability(d_star(self.G(task.sample_noise(cfg.batch, self.gen))), cfg.loss)
        else:
            loss_g = losses.g_loss(self.D(self.G(task.sample_noise(cfg.batch, self.gen))), cfg.loss)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self._g_loss_sum += loss_g.detach()
        self._g_count += 1
        self.g_updates += 1

    def step_d(self) -> None:
        """Exactly one D update with G fixed ("Step D"). It does not complete an iteration:
        `d_phase` counts the D updates of the unfinished one (an iteration has k)."""
        self._d_update()
        self.d_phase += 1

    def step_g(self, updates: int = 1) -> None:
        """`updates` G updates with D fixed ("Step G"): this completes the current iteration,
        whatever number of D updates it had (see d_phase). Nothing happens while G is frozen."""
        if self.g_frozen:
            return
        for _ in range(updates):
            self._g_update()
        self.d_phase = 0
        self.iteration += 1

    def tally(self, d_loss_sum: float, d_n: int, g_loss_sum: float, g_n: int) -> None:
        """Count updates a task ran itself (`Task.steps_itself`): their summed losses and numbers."""
        self._d_loss_sum += d_loss_sum
        self._g_loss_sum += g_loss_sum
        self._d_count += d_n
        self._g_count += g_n
        self.d_updates += d_n
        self.g_updates += g_n

    # --- measuring ------------------------------------------------------------------------------
    def take_losses(self) -> dict[str, float]:
        """Mean D and G loss since the last call (NaN when there was no such update)."""
        d = self._d_loss_sum.item() / self._d_count if self._d_count else math.nan
        g = self._g_loss_sum.item() / self._g_count if self._g_count else math.nan
        if (self._d_count and not math.isfinite(d)) or (self._g_count and not math.isfinite(g)):
            self.diverged = True
        self._d_loss_sum.zero_()
        self._g_loss_sum.zero_()
        self._d_count = self._g_count = 0
        return {"d_loss": d, "g_loss": g}

    def evaluate(self, views: bool = True) -> Evaluation:
        """The task's metrics on a fixed evaluation noise (so repeated calls don't flicker and
        the training random stream is untouched), plus the mean losses since the last call.

        Raises NonFiniteError once the losses, V or the weights are NaN/inf."""
        mean_losses = self.take_losses()
        eval_gen = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 2)
        ev = self.task.evaluate(self.G, self.D, eval_gen, views=views, loss=self.cfg.loss)
        ev.metrics = {**mean_losses, **ev.metrics}
        if self.diverged or not math.isfinite(ev.metrics.get("v", 0.0)) or not self.parameters_finite():
            self.diverged = True
            raise NonFiniteError(
                f"training diverged at iteration {self.iteration}: the losses or weights became NaN/inf "
                "(try smaller learning rates, then reset)")
        why = self.out_of_range(mean_losses, eval_gen)
        if why:
            self.diverged = True
            raise OutOfRangeError(f"training diverged at iteration {self.iteration}: {why} "
                                  "(learning rates too high?)")
        return ev

    def out_of_range(self, mean_losses: dict[str, float], gen: torch.Generator) -> str:
        """Why the run has blown up though everything is finite ("" when it has not)."""
        for name, label in (("d_loss", "D loss"), ("g_loss", "G loss")):
            value = mean_losses.get(name, math.nan)
            if math.isfinite(value) and abs(value) > LOSS_LIMIT:
                return f"the mean {label} reached {value:.3g} (a sane run stays within ±{LOSS_LIMIT:g})"
        extent = self.task.data_extent()
        if extent:
            with torch.no_grad():
                far = float(self.G(self.task.sample_noise(64, gen)).abs().max())
            if far > EXTENT_FACTOR * extent:
                return (f"|G(z)| reached {far:.3g}, {far / extent:.3g}× the target's extent of {extent:.3g} "
                        "(the samples have flown off the plot)")
        return ""

    def parameters_finite(self) -> bool:
        flags = [torch.isfinite(p).all() for p in (*self.G.parameters(), *self.D.parameters())]
        return bool(torch.stack(flags).all())


class PlateauDetector:
    """Says when a rising quantity has stopped rising: no gain above `tol` for `patience` checks."""

    def __init__(self, patience: int = 5, tol: float = 1e-4):
        self.patience, self.tol = patience, tol
        self.best = -math.inf
        self.stale = 0

    def update(self, value: float) -> bool:
        if value > self.best + self.tol:
            self.best, self.stale = value, 0
        else:
            self.stale += 1
        return self.stale >= self.patience


class FitDStar:
    """"Fit D*": freeze G and train only D until V(G, D) stops rising (THEORY.md §3).

    Each `advance()` runs `check_every` D-only iterations, then measures V on the task's
    evaluation. When V plateaus the learning rate of D is halved (stochastic gradients at a fixed
    rate hover around the optimum instead of reaching it); after `halvings` plateaus, or
    `max_iterations`, it is done and the user's learning rate and G are restored.
    """

    def __init__(self, trainer: Trainer, check_every: int = 100, patience: int = 4,
                 tol: float = 1e-4, halvings: int = 4, max_iterations: int = 30000):
        self.trainer = trainer
        self.check_every = check_every
        self.max_iterations = max_iterations
        self.patience, self.tol, self.halvings_left = patience, tol, halvings
        self.detector = PlateauDetector(patience, tol)
        self.iterations = 0
        self.since_check = 0
        self.done = False
        trainer.set_fit(True)
        self.last: Evaluation | None = None
        # Its span on the history plots: the training iteration it started at, and its D updates
        # (Fit D*'s D-only iterations are not training iterations).
        self.start_iteration = trainer.iteration
        self._start_d = trainer.d_updates
        self._end_d: int | None = None

    @property
    def d_updates_done(self) -> int:
        end = self._end_d if self._end_d is not None else self.trainer.d_updates
        return end - self._start_d

    def trained(self, n: int) -> None:
        """Count `n` D-only iterations that someone else ran (a batched group of lanes)."""
        self.iterations += n
        self.since_check += n

    @property
    def due(self) -> int:
        """D-only iterations to run before the next measurement."""
        return max(0, self.check_every - self.since_check)

    def check(self, views: bool = False) -> bool:
        """Measure V after `check_every` iterations; True once the fit is done (settings given back)."""
        trainer = self.trainer
        self.since_check = 0
        try:
            self.last = trainer.evaluate(views=views)
        except NonFiniteError:
            self.finish()
            raise
        done = self.iterations >= self.max_iterations
        if self.detector.update(self.last.metrics["v"]):
            if self.halvings_left == 0:
                done = True
            else:
                self.halvings_left -= 1
                self.detector = PlateauDetector(self.patience, self.tol)
                self.detector.best = self.last.metrics["v"]
                trainer.set_fit(True, trainer.lr_scale_d * 0.5)
        if done:
            self.finish()
        return done

    def advance(self, views: bool = False) -> bool:
        self.trainer.step(self.due)
        self.trained(self.due)
        return self.check(views)

    def finish(self) -> None:
        """G trains again (unless the user froze it) and D's rate is the user's current one."""
        self.done = True
        if self._end_d is None:
            self._end_d = self.trainer.d_updates
        self.trainer.set_fit(False)

    def run(self) -> Evaluation:
        while not self.advance():
            pass
        assert self.last is not None
        return self.last
