
# Before any route module compiles its paths: ``{name:int}`` matches 64-bit ids only. Here rather than in
# ``web/__init__`` so the package's own modules (params → errors → templating) do not import it back.
from web import params as _params  # noqa: F401
