"""tui-rnn: train, check and play with character-level RNNs written in plain NumPy."""

__version__ = "0.1.0"
