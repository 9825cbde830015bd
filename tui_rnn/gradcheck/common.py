"""What the gradient check's modules share: the methods and their defaults.

Both batched paths (vanilla, generic) and the check that drives them (check) need the default
step of a method; keeping the defaults here, below all three, lets the paths stand alone
without importing the check that imports them.
"""

from __future__ import annotations

METHODS = ("central", "complex")

DEFAULT_SEQ_LENGTHS = (5, 10, 15, 25)

# The floor of the relative error's denominator. A central difference carries rounding noise of
# about ulp(loss) / 2h ~ 1e-11 in absolute terms; divided by a gradient that is itself ~1e-9 it
# would look like a 1% error. Below eps the error is measured against eps instead, so
# tiny-gradient noise reads as <= ~1e-5 while any gradient above 1e-6 is compared relatively.
DEFAULT_EPS = 1e-6

_DEFAULT_H = {"central": 1e-4, "complex": 1e-20}

# Measured at m = 100, sigma = 0.01 (tinyshakespeare and the tests' generated text), seq lengths
# 5..25: the correct backward pass reaches max r <= 2.3e-5 (central) and <= 4e-13 (complex) at
# init, <= 6.2e-5 and <= 6e-11 after 40,000 updates; the three broken ones in
# tests/test_gradcheck.py reach max r >= 9.5e-2 (m = 100) and >= 1.1e-1 (m = 20). Each
# threshold sits at least 10x from both sides (complex: > 100x).
_DEFAULT_THRESHOLD = {"central": 1e-3, "complex": 1e-8}


def default_h(method: str) -> float:
    check_method(method)
    return _DEFAULT_H[method]


def default_threshold(method: str) -> float:
    check_method(method)
    return _DEFAULT_THRESHOLD[method]


def check_method(method: str) -> None:
    """ValueError (one line) unless `method` is one of METHODS."""
    if method not in METHODS:
        raise ValueError(f"unknown gradient check method {method!r}: use central or complex")
