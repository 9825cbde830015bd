"""Optimizers: small objects with named state, updating one flat parameter vector in place.

Each takes the (already clipped) gradient g and the learning rate eta of this update:

    AdaGrad   mem += g*g;                          theta -= eta * g / sqrt(mem + eps)
    RMSProp   ms = d*ms + (1 - d)*g*g;             theta -= eta * g / (sqrt(ms) + eps)
    Adam      m = b1*m + (1 - b1)*g;  v = b2*v + (1 - b2)*g*g;  t += 1
              theta -= eta * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

AdaGrad is the report's (eps = 1e-8, added inside the square root as the DD2424 assignment
does). RMSProp is Hinton's, with char-rnn's decay 0.95; Adam is Kingma and Ba's with their
defaults. Their state arrays are what a checkpoint saves (under `opt.<name>`), so a resumed run
continues exactly. Every step works in two preallocated scratch buffers of the parameters'
dtype: no temporaries, and float32 stays float32; the second holds the update subtracted
(`last_update`).
"""

from __future__ import annotations

import numpy as np

OPTIMIZERS = ("adagrad", "rmsprop", "adam")
# The learning rate each is used with when --eta is not given: the report's 0.1 for AdaGrad,
# and the usual 2e-3 of char-rnn / torch-rnn for the two with a decaying memory.
DEFAULT_ETA = {"adagrad": 0.1, "rmsprop": 2e-3, "adam": 2e-3}


class Optimizer:
    name = ""
    state_names: tuple[str, ...] = ()  # every named state array, as saved
    vector_state: tuple[str, ...] = ()  # those of the parameters' size and dtype

    def __init__(self, size: int, dtype=np.float64, eps: float = 1e-8):
        self.dtype = np.dtype(dtype)
        self.eps = eps
        for name in self.vector_state:
            setattr(self, name, np.zeros(size, dtype=self.dtype))
        self._scratch = (np.empty(size, self.dtype), np.empty(size, self.dtype))

    def step(self, params: np.ndarray, g: np.ndarray, eta: float) -> None:
        raise NotImplementedError

    @property
    def last_update(self) -> np.ndarray:
        """What the last `step` subtracted from the parameters (a view of a scratch buffer,
        valid until the next step): the inspector's update-to-weight ratio reads it, so
        watching costs no copy."""
        return self._scratch[1]

    @classmethod
    def state_layout(cls, size: int) -> dict[str, tuple[str, tuple[int, ...]]]:
        """name -> (dtype kinds, shape) of every state array, for checking a checkpoint."""
        return {
            name: ("f", (size,)) if name in cls.vector_state else ("iu", ())
            for name in cls.state_names
        }

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The named state, as saved in a checkpoint (views, not copies)."""
        return {name: getattr(self, name) for name in self.state_names}

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        for name in self.state_names:
            current = getattr(self, name)
            value = np.asarray(arrays[name])
            if value.shape != current.shape:
                raise ValueError(
                    f"optimizer state {name} has shape {value.shape}, expected {current.shape}"
                )
            current[...] = value

    def is_finite(self) -> bool:
        return all(np.isfinite(getattr(self, name)).all() for name in self.state_names)


class AdaGrad(Optimizer):
    name = "adagrad"
    state_names = vector_state = ("memory",)

    def step(self, params, g, eta):
        # mem += g * g;  theta -= eta * g / sqrt(mem + eps), in this order (the report's bits).
        g_squared, update = self._scratch
        self.memory += np.multiply(g, g, out=g_squared)
        np.multiply(eta, g, out=update)
        update /= np.sqrt(np.add(self.memory, self.eps, out=g_squared), out=g_squared)
        params -= update


class RMSProp(Optimizer):
    name = "rmsprop"
    state_names = vector_state = ("mean_square",)

    def __init__(self, size: int, dtype=np.float64, decay: float = 0.95, eps: float = 1e-8):
        super().__init__(size, dtype, eps)
        self.decay = decay

    def step(self, params, g, eta):
        g_squared, update = self._scratch
        self.mean_square *= self.decay
        np.multiply(g, g, out=g_squared)
        g_squared *= 1.0 - self.decay
        self.mean_square += g_squared
        np.sqrt(self.mean_square, out=g_squared)
        g_squared += self.eps
        np.multiply(eta, g, out=update)
        update /= g_squared
        params -= update


class Adam(Optimizer):
    name = "adam"
    state_names = ("m", "v", "t")
    vector_state = ("m", "v")

    def __init__(
        self,
        size: int,
        dtype=np.float64,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ):
        super().__init__(size, dtype, eps)
        self.t = np.zeros((), dtype=np.int64)  # updates taken: the bias corrections need it
        self.beta1, self.beta2 = beta1, beta2

    def step(self, params, g, eta):
        scratch, update = self._scratch
        self.t += 1
        t = int(self.t)
        self.m *= self.beta1
        self.m += np.multiply(1.0 - self.beta1, g, out=scratch)
        self.v *= self.beta2
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - self.beta2
        self.v += scratch
        # eta * m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
        np.sqrt(self.v, out=scratch)
        scratch *= 1.0 / np.sqrt(1.0 - self.beta2**t)
        scratch += self.eps
        np.multiply(eta / (1.0 - self.beta1**t), self.m, out=update)
        update /= scratch
        params -= update


CLASSES: dict[str, type[Optimizer]] = {"adagrad": AdaGrad, "rmsprop": RMSProp, "adam": Adam}


def make_optimizer(name: str, size: int, dtype=np.float64, eps: float = 1e-8) -> Optimizer:
    if name not in CLASSES:
        raise ValueError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    return CLASSES[name](size, dtype, eps=eps)
