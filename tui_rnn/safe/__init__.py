"""safe."""
