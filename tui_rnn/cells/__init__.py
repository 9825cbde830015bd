"""The models' mathematics in plain NumPy: `model` (ModelSpec, and Model: the parameters as views
into one flat vector, the forward and backward passes of a stack of layers under a softmax
output) and one module per recurrent cell, `rnn`, `lstm` and `gru`, each its equations beside the
loops that compute them, on what `layer` says a cell provides. Imports NumPy only: no files, no
training, no terminal."""
