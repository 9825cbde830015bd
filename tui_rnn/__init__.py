"""tui-rnn: train, check and play with character-level RNNs written in plain NumPy."""

from tui_rnn import blas

blas.pin()  # before anything imports NumPy: the same OpenBLAS kernels, the same bits (blas.py)

__version__ = "0.2.0"
