"""Fair diffusion (system 4): attributes an auditor computes exactly, skewed benchmarks with a known truth,
and (``replab.metrics.fairness``) distribution metrics with intervals that account for classifier error."""

from replab.fairness.attributes import GROUPS, TONE_GROUPS, ToneRule, class_groups, foreground_tone
from replab.fairness.benchmark import PRESETS, make_skew

__all__ = ["GROUPS", "PRESETS", "TONE_GROUPS", "ToneRule", "class_groups", "foreground_tone", "make_skew"]
