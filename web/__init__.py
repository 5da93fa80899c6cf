"""The HTTP surface of Cloud Expo."""

# Before any route module compiles its paths: ``{name:int}`` matches 64-bit ids only.
from web import params as _params  # noqa: F401
