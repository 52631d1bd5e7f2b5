"""The HTTP layer: the only package that knows ASGI."""

from fastaw.api.app import App, create_app

__all__ = ["App", "create_app"]
