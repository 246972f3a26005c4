"""The package version: one place, below every layer (``babelcart.__version__`` re-exports it)."""

__version__ = "0.1.0"
