"""replab: runnable, measurable reproductions of recent AI research systems."""

from pathlib import Path

from replab.errors import ReplabError

__version__ = "0.1.0"
ASSETS = Path(__file__).resolve().parent / "assets"  # shipped weights, runs and sample data
__all__ = ["ASSETS", "ReplabError", "__version__"]
