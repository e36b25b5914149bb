"""Core subsystem: ui. (Being built; see the issue tracker.)"""
from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to set up yet."""
