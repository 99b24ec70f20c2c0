"""shoko's agent: fetchers, the run pipeline, settings and the `shoko` command."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("shoko")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
