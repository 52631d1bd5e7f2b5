"""fastaw: a fast drop-in replacement for the ActivityWatch server."""

__version__ = "0.1.0"
