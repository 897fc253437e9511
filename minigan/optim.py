"""Optimizers: Adam (the DCGAN choice) and SGD with momentum, and the moving average of a
model's weights that a GAN samples from.

An optimizer holds a model and its own state (moment estimates), keyed by each parameter's
dotted name. ``step()`` reads ``layer.params[key]`` and ``layer.grads[key]`` afresh on every call
and updates the parameter IN PLACE, so the model's arrays stay the arrays the model holds:
nothing else is silently shared or replaced. The update rules are PyTorch's, term for term.
"""

from __future__ import annotations

import copy

from . import kernels
from .backend import device_of, get_array_module, to_device, to_numpy

__all__ = ["Optimizer", "Adam", "SGD", "ExponentialMovingAverage"]


class Optimizer:
    """Common bookkeeping: the model's parameters by name, zero_grad, state save/load."""

    def __init__(self, model, lr: float):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.model = model
        self.lr = float(lr)
        self.step_count = 0
        self.state: dict[str, dict[str, object]] = {}  # parameter name -> {"m": ..., "v": ...}

    def parameters(self):
        """``(name, param, grad)`` for every parameter of the model, read afresh."""
        for name, layer, key in self.model.named_parameters():
            yield name, layer.params[key], layer.grads[key]

    def zero_grad(self) -> None:
        self.model.zero_grad()

    def _slot(self, name: str, slot: str, like):
        """The optimizer state array ``slot`` of parameter ``name``, created as zeros on first use."""
        entry = self.state.setdefault(name, {})
        if slot not in entry:
            entry[slot] = get_array_module(like).zeros_like(like)
        return entry[slot]

    def state_dict(self) -> dict[str, object]:
        """Flat dict of NumPy arrays (``"<param>/<slot>"``) plus ``"step"``; for checkpoints."""
        out = {"step": self.step_count}
        for name, slots in self.state.items():
            for slot, value in slots.items():
                out[f"{name}/{slot}"] = to_numpy(value)
        return out

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore what :meth:`state_dict` returned; arrays go to the parameters' device and dtype."""
        params = {name: p for name, p, _ in self.parameters()}
        self.step_count = int(state["step"])
        self.state = {}
        for key, value in state.items():
            if key == "step":
                continue
            name, _, slot = key.rpartition("/")
            if name not in params:
                raise ValueError(f"optimizer state names parameter {name!r}, which the model does not have")
            p = params[name]
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(f"optimizer state {key}: shape {tuple(value.shape)} != parameter shape {tuple(p.shape)}")
            self.state.setdefault(name, {})[slot] = to_device(value, device_of(p)).astype(p.dtype, copy=False)

    def to(self, device: str) -> "Optimizer":
        for slots in self.state.values():
            for slot in slots:
                slots[slot] = to_device(slots[slot], device)
        return self


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with PyTorch's rule. For each parameter ``p`` with gradient ``g``::

        t += 1
        g  = g + weight_decay * p                       (if weight_decay)
        m  = beta1 * m + (1 - beta1) * g                first moment
        v  = beta2 * v + (1 - beta2) * g**2             second moment
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    DCGAN uses ``lr=2e-4, betas=(0.5, 0.999)``: a short memory of past gradients (beta1 = 0.5
    instead of 0.9) keeps the two players from overshooting each other.
    """

    def __init__(self, model, lr: float = 2e-4, betas=(0.5, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(model, lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        if not (0 <= self.betas[0] < 1 and 0 <= self.betas[1] < 1):
            raise ValueError(f"Adam betas must be in [0, 1), got {betas}")

    def step(self) -> None:
        self.step_count += 1
        t = self.step_count
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1**t)
        sqrt_bias2 = (1 - beta2**t) ** 0.5
        for name, p, g in self.parameters():
            if self.weight_decay:
                g = g + self.weight_decay * p
            m = self._slot(name, "m", p)
            v = self._slot(name, "v", p)
            # m, v and p updated in place, the rule above term for term (one numba kernel on a CPU)
            kernels.adam_update(p, g, m, v, step_size, beta1, beta2, sqrt_bias2, self.eps)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, PyTorch's rule::

        g  = g + weight_decay * p
        buf = momentum * buf + (1 - dampening) * g      (buf = g on the first step)
        p -= lr * buf                                   (or lr * (g + momentum * buf) if nesterov)
    """

    def __init__(self, model, lr: float = 1e-2, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(model, lr)
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening 0")

    def step(self) -> None:
        self.step_count += 1
        for name, p, g in self.parameters():
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                first = name not in self.state
                buf = self._slot(name, "momentum_buffer", p)
                if first:
                    buf[...] = g
                else:
                    buf *= self.momentum
                    buf += (1 - self.dampening) * g
                g = g + self.momentum * buf if self.nesterov else buf
            p -= self.lr * g


class ExponentialMovingAverage:
    """A copy of ``model`` whose weights follow the model's as an exponential moving average.

    A GAN's generator never settles: each step moves it against the discriminator of the
    moment, so its weights wander around a good solution rather than reaching it. Their
    average over the last steps is closer to that solution and draws better, steadier images
    (Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training"; every
    StyleGAN samples from one). The model is trained; :attr:`average` is only sampled.

    After each training step, :meth:`update` moves every parameter and buffer (BatchNorm's
    running statistics too) of :attr:`average` towards the model's::

        average = decay * average + (1 - decay) * model          (kernels.ema_update)
        decay   = 0.5 ** (batch_size / half_life)

    so a weight's influence halves every ``half_life`` images. Early in training the weights
    move fast and the initial ones are worthless; as in StyleGAN2-ADA's training loop, the
    half-life is capped at ``rampup`` times the images seen so far (0.05: after 20,000 images
    the average spans the last 1,000), and the first update copies the model. ``half_life = 0``
    makes the average a plain copy of the model after every step.
    """

    def __init__(self, model, half_life: float, rampup: float | None = 0.05):
        if not half_life >= 0:
            raise ValueError(f"half_life must be at least 0 images, got {half_life}")
        self.model = model
        self.average = copy.deepcopy(model)
        self.average.clear_cache()
        self.half_life = float(half_life)
        self.rampup = rampup
        self.images = 0  # images the model has been trained on, when last averaged

    def decay(self, batch_size: int) -> float:
        """The decay of the next update, after ``self.images`` images."""
        half_life = self.half_life
        if self.rampup is not None:
            half_life = min(half_life, self.images * self.rampup)
        return 0.5 ** (batch_size / half_life) if half_life > 0 else 0.0

    def _pairs(self):
        """``(average array, model array)`` for every parameter and buffer, by name."""
        own, theirs = self.average.state_dict(), self.model.state_dict()
        return [(own[name], theirs[name]) for name in own]

    def update(self, batch_size: int) -> float:
        """Average in the model after a step on ``batch_size`` images; returns the decay used."""
        decay = self.decay(batch_size)
        for average, value in self._pairs():
            kernels.ema_update(average, value, decay)
        self.images += int(batch_size)
        return decay

    def state_dict(self) -> dict[str, object]:
        """The average's arrays by name (the model's layout) and ``"images"``; for checkpoints."""
        return {**{name: to_numpy(value) for name, value in self.average.state_dict().items()}, "images": self.images}

    def load_state_dict(self, state: dict[str, object]) -> None:
        state = dict(state)
        self.images = int(state.pop("images"))
        self.average.load_state_dict(state)

    def to(self, device: str) -> "ExponentialMovingAverage":
        self.average.to(device)
        return self
