"""Garage ERP core: the plugin host and everything plugins share."""
from .app import create_app
from .plugins import CORE_API_VERSION, Manifest, hookimpl

__all__ = ["create_app", "hookimpl", "Manifest", "CORE_API_VERSION"]
