"""Fair diffusion (system 4): attributes an auditor computes exactly, skewed benchmarks with a known truth, an
attribute probe on RAE tokens, audits with intervals that account for the probe's errors
(``replab.metrics.fairness``), and sampling-time corrections graded by the auditor."""

from replab.fairness.attributes import GROUPS, TONE_GROUPS, ToneRule, class_groups, foreground_tone
from replab.fairness.audit import AuditConfig, audit
from replab.fairness.benchmark import PRESETS, make_skew
from replab.fairness.frame import AuditReport, audit_samples
from replab.fairness.probe import AttributeProbe, ProbeConfig, load_probe, train_probe
from replab.fairness.report import format_report
from replab.fairness.sample import FAIR_MODES, fair_generate
from replab.fairness.tradeoff import TradeoffConfig, tradeoff

__all__ = [
    "FAIR_MODES", "GROUPS", "PRESETS", "TONE_GROUPS", "AttributeProbe", "AuditConfig", "AuditReport", "ProbeConfig",
    "ToneRule", "TradeoffConfig", "audit", "audit_samples",
    "class_groups", "fair_generate", "foreground_tone", "format_report", "load_probe", "make_skew", "tradeoff",
    "train_probe",
]  # fmt: skip
