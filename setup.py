"""The compiled parts of the media path: the forwarder's fan-out loop (streaming/_fanout.c) and
a connection's SRTP read off its socket (streaming/_receive.c).

Optional: where no C compiler is present the install goes on without them and
the media path runs in Python (streaming/fanout.py, streaming/aiortc_receive.py).
Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("streaming._fanout", ["streaming/_fanout.c"], optional=True),
        Extension("streaming._receive", ["streaming/_receive.c"], optional=True),
    ]
)
