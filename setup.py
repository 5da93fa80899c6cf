"""The one compiled part: the forwarder's fan-out loop (streaming/_fanout.c).

Optional: where no C compiler is present the install goes on without it and
the forwarder sends in Python (streaming/fanout.py). Everything else is in
pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("streaming._fanout", ["streaming/_fanout.c"], optional=True)])
