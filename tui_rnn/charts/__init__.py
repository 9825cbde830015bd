"""Loss charts without a plotting library: `curves` prepares the series (thinned to each bin's
extremes, smoothed as TensorBoard does) and `figure` draws line charts as SVG (the report's
Fig. 1), as text and as braille Rich Text (the app's charts). Imports safe (every label is
escaped through safe.text), NumPy and Rich; nothing of training, runs or the app."""
