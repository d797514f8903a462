"""replab: runnable, measurable reproductions of recent AI research systems."""

from replab.errors import ReplabError

__version__ = "0.1.0"
__all__ = ["ReplabError", "__version__"]
