"""Fair diffusion (system 4): attributes an auditor computes exactly, skewed benchmarks with a known truth, an
attribute probe on RAE tokens, audits with intervals that account for the probe's errors
(``replab.metrics.fairness``), and sampling-time corrections graded by the auditor."""

from replab.core.lazy import lazy_exports

_PUBLIC = {
    "GROUPS": "attributes", "TONE_GROUPS": "attributes", "ToneRule": "attributes", "class_groups": "attributes",
    "foreground_tone": "attributes", "AuditConfig": "audit", "audit": "audit", "audit_images": "audit_images",
    "PRESETS": "benchmark", "make_skew": "benchmark", "AuditReport": "frame", "audit_samples": "frame",
    "AttributeProbe": "probe", "ProbeConfig": "probe", "load_probe": "probe", "train_probe": "probe",
    "format_report": "report", "FAIR_MODES": "sample", "fair_generate": "sample", "TradeoffConfig": "tradeoff",
    "tradeoff": "tradeoff",
}  # fmt: skip
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_exports(__name__, _PUBLIC)  # the generator-free audit (audit_images) loads no generator
