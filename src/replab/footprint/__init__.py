"""Energy and carbon of every run: measured (RAPL, NVML) where possible, declared estimates elsewhere."""

from replab.footprint.carbon import intensity_for
from replab.footprint.tracker import FootprintConfig, Tracker

__all__ = ["FootprintConfig", "Tracker", "intensity_for"]
