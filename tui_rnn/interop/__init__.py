"""Models that leave tui-rnn and come back: PyTorch's parameter layout, safetensors files, an
ONNX graph, a self-contained web page that samples in JavaScript, and the import of a
safetensors file as a new run. It sits above store (an import writes a run directory through
it) and may import store, training, cells and safe."""
