"""A textbook vanilla RNN, written straight from the equations: the baseline for bench_engine.py.

This is how DD2424 Assignment 4 (or min-char-rnn) is usually first written: one-hot column
vectors, a Python loop over the timesteps in both passes, every gradient accumulated one outer
product at a time. For each t:

    a_t = W h_{t-1} + U x_t + b,  h_t = tanh(a_t),  o_t = V h_t + c,  p_t = softmax(o_t)
    L   = -sum_t log(y_t^T p_t)

Same initialisation as tui_rnn (U, W, V ~ N(0, sigma^2) drawn in that order from
np.random.Generator(PCG64(seed)), zero biases), AdaGrad (eta, eps = 1e-8), gradients clipped to
[-5, 5], smooth loss from -log(1/K) * seq_length with 0.999 / 0.001, chunks advancing by
seq_length with the hidden state reset when a chunk would run past the end.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import numpy as np

NAMES = ("b", "c", "U", "W", "V")


class TextbookRNN:
    def __init__(self, book_data, K, m=100, seq_length=25, eta=0.1, sigma=0.01, seed=0):
        self.book_data = book_data  # the text as vocabulary indices
        self.K, self.m, self.seq_length, self.eta = K, m, seq_length, eta
        rng = np.random.Generator(np.random.PCG64(seed))
        self.U = sigma * rng.standard_normal((m, K))
        self.W = sigma * rng.standard_normal((m, m))
        self.V = sigma * rng.standard_normal((K, m))
        self.b = np.zeros((m, 1))
        self.c = np.zeros((K, 1))
        self.ada = {name: np.zeros_like(getattr(self, name)) for name in NAMES}
        self.hprev = np.zeros((m, 1))
        self.e = 0
        self.iteration = 0
        self.smooth_loss = -np.log(1.0 / K) * seq_length

    def one_hot(self, chars):
        X = np.zeros((self.K, len(chars)))
        for t, char in enumerate(chars):
            X[char, t] = 1
        return X

    def forward(self, X, Y, hprev):
        """Loss and the h_t, p_t of every step (h[-1] is the state before the sequence)."""
        h, p = {-1: hprev}, {}
        loss = 0.0
        for t in range(X.shape[1]):
            a = self.W @ h[t - 1] + self.U @ X[:, [t]] + self.b
            h[t] = np.tanh(a)
            o = self.V @ h[t] + self.c
            p[t] = np.exp(o - np.max(o)) / np.sum(np.exp(o - np.max(o)))
            loss -= np.log(Y[:, [t]].T @ p[t])[0, 0]
        return loss, h, p

    def backward(self, X, Y, h, p):
        grads = {name: np.zeros_like(getattr(self, name)) for name in NAMES}
        da_next = np.zeros((self.m, 1))
        for t in reversed(range(X.shape[1])):
            g = p[t] - Y[:, [t]]  # dL/do_t
            grads["V"] += g @ h[t].T
            grads["c"] += g
            dh = self.V.T @ g + self.W.T @ da_next  # dL/dh_t
            da = (1 - h[t] ** 2) * dh  # dL/da_t
            grads["W"] += da @ h[t - 1].T
            grads["U"] += da @ X[:, [t]].T
            grads["b"] += da
            da_next = da
        return grads

    def step(self):
        """One AdaGrad update on the next chunk of seq_length characters."""
        n = self.seq_length
        if self.e + n + 1 > len(self.book_data):
            self.e = 0
            self.hprev = np.zeros((self.m, 1))
        X = self.one_hot(self.book_data[self.e : self.e + n])
        Y = self.one_hot(self.book_data[self.e + 1 : self.e + n + 1])
        loss, h, p = self.forward(X, Y, self.hprev)
        grads = self.backward(X, Y, h, p)
        for name in NAMES:
            g = np.clip(grads[name], -5, 5)
            self.ada[name] += g * g
            param = getattr(self, name)
            param -= self.eta * g / np.sqrt(self.ada[name] + 1e-8)
        self.hprev = h[n - 1]
        self.e += n
        self.iteration += 1
        self.smooth_loss = 0.999 * self.smooth_loss + 0.001 * loss
        return loss
