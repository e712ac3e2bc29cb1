"""SegStudio: dense semantic annotation with a model in the loop."""

__version__ = "0.1.0"
