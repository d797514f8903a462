"""Distribution-fairness metrics, against hand-computed values and simulation with a known truth."""

import math

import numpy as np
import pytest

from replab.fairness.benchmark import MIXED_CLASSES
from replab.metrics import fairness as fm


def test_absent_groups_count_in_the_discrepancy():
    p = fm.group_distribution(np.zeros(50, int), 4)  # one group only
    assert p.tolist() == [1, 0, 0, 0]
    assert math.isclose(fm.fairness_discrepancy(p, np.full(4, 0.25)), math.sqrt(0.75), rel_tol=1e-12)  # 0.866
    assert fm.minority_coverage(p) == 0 and fm.max_min_ratio(p) == math.inf
    assert fm.normalised_entropy(p) == 0 and math.isclose(fm.kl_to_target(p, np.full(4, 0.25)), math.log(4))


def test_hand_computed_values():
    p, t = np.array([0.5, 0.3, 0.2]), np.full(3, 1 / 3)
    assert math.isclose(fm.fairness_discrepancy(p, t), math.sqrt((1 / 6) ** 2 + (1 / 30) ** 2 + (2 / 15) ** 2))
    assert math.isclose(fm.normalised_entropy(np.full(3, 1 / 3)), 1.0)
    assert math.isclose(fm.minority_coverage(p), 0.6) and math.isclose(fm.max_min_ratio(p), 2.5)
    assert fm.group_distribution(np.array([[0.2, 0.8], [0.6, 0.4]]), 2).tolist() == pytest.approx([0.4, 0.6])
    low, high = fm.wilson_interval(0, 20)  # Wilson stays informative at 0 successes
    assert low == 0 and math.isclose(high, 0.1611, abs_tol=1e-4)


def test_noise_floor_and_debiasing_by_simulation():
    rng = np.random.default_rng(0)
    target, n = np.array([0.1, 0.2, 0.3, 0.4]), 400
    samples = [fm.group_distribution(rng.choice(4, n, p=target), 4) for _ in range(2000)]
    rms = math.sqrt(np.mean([fm.fairness_discrepancy(s, target) ** 2 for s in samples]))
    assert math.isclose(rms, fm.discrepancy_noise_floor(target, n), rel_tol=0.05)
    # a generator off by a known amount: the debiased estimate recovers it where the raw one overshoots
    truth = np.array([0.2, 0.2, 0.3, 0.3])
    draws = [fm.group_distribution(rng.choice(4, n, p=truth), 4) for _ in range(2000)]
    raw = np.mean([fm.fairness_discrepancy(d, target) ** 2 for d in draws])
    debiased = np.mean([fm.debiased_discrepancy(d, target, n) ** 2 for d in draws])
    exact = fm.fairness_discrepancy(truth, target) ** 2
    assert abs(debiased - exact) < 0.1 * abs(raw - exact) + 1e-4


def test_corrections_recover_the_truth_when_the_confusion_is_known():
    assert math.isclose(fm.rogan_gladen(0.9 * 0.3 + 0.2 * 0.7, 0.9, 0.8), 0.3)
    confusion = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.05, 0.05, 0.9]])
    truth = np.array([0.6, 0.3, 0.1])
    assert np.allclose(fm.invert_confusion(confusion.T @ truth, confusion), truth, atol=1e-9)
    edge = fm.invert_confusion(confusion.T @ np.array([1.0, 0.0, 0.0]) + np.array([-0.01, 0.0, 0.01]), confusion)
    assert edge.min() >= 0 and math.isclose(edge.sum(), 1.0)  # noise outside the simplex is projected back


def test_corrected_interval_covers_the_truth_under_classifier_error():
    rng = np.random.default_rng(1)
    confusion = np.array([[0.85, 0.15], [0.1, 0.9]])
    true_gen = rng.choice(2, 2000, p=[0.75, 0.25])
    predicted = np.array([rng.choice(2, p=confusion[g]) for g in true_gen])
    val_true = rng.choice(2, 1000)
    val_predicted = np.array([rng.choice(2, p=confusion[g]) for g in val_true])
    out = fm.corrected_interval(predicted, val_true, val_predicted, 2, n_boot=300)
    assert out["low"][1] <= 0.25 <= out["high"][1]
    raw = fm.group_distribution(predicted, 2)[1]
    assert abs(out["estimate"][1] - 0.25) < abs(raw - 0.25)  # the raw share is pulled towards 1/2


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="sums to"):
        fm.check_target(np.array([0.5, 0.4]), 2)
    with pytest.raises(ValueError, match="K=3"):
        fm.check_target(np.array([0.5, 0.5]), 3)
    with pytest.raises(ValueError, match="no mass"):
        fm.check_target(np.array([1.0, 0.0]), 2)
    with pytest.raises(fm.ProbeTooWeak, match="near singular"):
        fm.invert_confusion(np.array([0.5, 0.5]), np.array([[0.5, 0.5], [0.5, 0.5]]))
    with pytest.raises(fm.ProbeTooWeak, match="too weak"):
        fm.rogan_gladen(0.4, 0.55, 0.55)


def test_per_class_flags_find_the_skewed_classes():
    import torch

    from replab.fairness.frame import per_class_shares

    rng = np.random.default_rng(0)
    labels = torch.arange(2000) % 10
    skewed = set(MIXED_CLASSES)
    oracle = np.array([int(rng.random() >= (0.09 if int(c) in skewed else 0.5)) for c in labels])
    rows = per_class_shares(oracle, labels, np.array([0.5, 0.5]))
    flagged = {r["class"] for r in rows if r["flagged"]}
    assert skewed <= flagged and len(flagged - skewed) <= 1


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (a): 56/70 − 48/80, method 10
    low, high = fm.newcombe_difference_interval(56, 70, 48, 80)
    assert abs(low - 0.0524) < 5e-4 and abs(high - 0.3339) < 5e-4
    low, high = fm.newcombe_difference_interval(0, 10, 0, 20)  # both zero: a finite interval around 0
    assert low < 0 < high and -1 <= low and high <= 1


def test_per_class_flags_against_a_reference_generator_ignore_the_pipelines_own_distortion():
    """A pipeline that darkens every class by its own amount: against 0.5 most classes are flagged, against a
    reference generator with the same distortion (trained on unskewed data) only the data's skewed ones."""
    import torch

    from replab.fairness.frame import class_counts, per_class_against_reference, per_class_shares

    rng = np.random.default_rng(0)
    labels = torch.arange(4000) % 10
    distortion = np.linspace(0.15, 0.85, 10)  # the pipeline's dark share per class on unskewed data
    skewed = set(MIXED_CLASSES)
    truth = np.array([distortion[c] * (0.3 if c in skewed else 1.0) for c in labels.tolist()])
    oracle = (rng.random(4000) >= truth).astype(int)
    reference = (rng.random(4000) >= distortion[labels.numpy()]).astype(int)
    against_target = {r["class"] for r in per_class_shares(oracle, labels, np.array([0.5, 0.5])) if r["flagged"]}
    assert len(against_target - skewed) >= 3  # the absolute test reads the distortion as skew
    rows = per_class_against_reference(oracle, labels, class_counts(reference, labels))
    flagged = {r["class"] for r in rows if r["flagged"]}
    assert skewed <= flagged and len(flagged - skewed) <= 1
    assert all(r["difference_ci"][0] <= r["share"] - r["reference_share"] <= r["difference_ci"][1] for r in rows)


def test_a_finished_reference_audit_is_reused_only_when_sampled_alike(tmp_path):
    import json
    from dataclasses import asdict

    import torch

    from replab.diffusion.samplers import GuidanceConfig
    from replab.errors import ConfigError
    from replab.fairness.audit import _against_reference
    from replab.fairness.frame import class_counts, per_class_shares

    labels = torch.arange(200) % 10
    reference = (torch.arange(200) % 3 == 0).long().numpy()  # dark (0) for two in three
    oracle = np.where(labels.numpy() < 5, 1, reference)  # classes 0–4 lost their dark samples
    guidance = GuidanceConfig(cfg_scale=5.0)
    folder = tmp_path / "reference-audit"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "config.yaml").write_text("kind: fairness-audit\n")
    report = {"guidance": asdict(guidance), "attribute": "tone", "fair": "none",
              "by_class": per_class_shares(reference, labels, np.array([0.5, 0.5]))}  # fmt: skip
    (folder / "artifacts" / "audit.json").write_text(json.dumps(report))
    info = {"spec": {"attribute": "tone"}}
    rows = _against_reference(folder, guidance, 200, 0, info, oracle, labels)
    assert {r["class"] for r in rows if r["flagged"]} == {0, 1, 2, 3, 4}
    assert {r["direction"] for r in rows if r["flagged"]} == {"under"} and not any(r["direction"] for r in rows[5:])
    assert [(r["reference_share"] * r["reference_n"]) for r in rows] == [
        c for c, _ in class_counts(reference, labels).values()
    ]
    with pytest.raises(ConfigError, match="compare like with like"):
        _against_reference(folder, GuidanceConfig(cfg_scale=1.0), 200, 0, info, oracle, labels)


def _wilson_by_hand(count, n, z=fm.Z95):
    phat = count / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@pytest.mark.parametrize("count, n", [(0, 7), (3, 7), (7, 7), (1, 40), (57, 200), (500, 1000)])
def test_wilson_is_scipys_and_the_formula_clopper_pearson_is_selectable(count, n):
    from scipy import stats

    ci = stats.binomtest(count, n).proportion_ci(0.95, method="wilson")
    assert fm.wilson_interval(count, n) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert fm.wilson_interval(count, n) == pytest.approx(_wilson_by_hand(count, n), abs=1e-12)  # as before
    exact = fm.proportion_interval(count, n, method="exact")
    ci = stats.binomtest(count, n).proportion_ci(0.95, method="exact")
    assert exact == pytest.approx((ci.low, ci.high), abs=1e-12)
    low, high = fm.wilson_interval(count, n)
    assert exact[1] - exact[0] >= high - low  # Clopper-Pearson: the wider, conservative one
    with pytest.raises(ValueError, match="interval 'normal'"):
        fm.proportion_interval(count, n, method="normal")


def test_an_audit_can_ask_for_clopper_pearson():
    from replab.fairness.frame import audit_samples

    groups = np.array([0] * 3 + [1] * 17)
    exact = audit_samples([0.5, 0.5], groups=groups, classes=np.zeros(20, int), interval="exact").to_dict()
    wilson = audit_samples([0.5, 0.5], groups=groups, classes=np.zeros(20, int)).to_dict()
    assert exact["auditor"]["interval"] == "exact" and wilson["auditor"]["interval"] == "wilson"
    assert exact["auditor"]["share_ci"][0] == pytest.approx(fm.proportion_interval(3, 20, method="exact"))
    assert exact["auditor"]["share_ci"][0][1] > wilson["auditor"]["share_ci"][0][1]
    with pytest.raises(Exception, match="interval=normal"):
        audit_samples([0.5, 0.5], groups=groups, interval="normal")


def test_kappa_and_auroc_agree_with_independent_computations():
    from scipy import stats

    from replab.metrics.passk import auroc, cohen_kappa

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, 60), rng.integers(0, 2, 60)
    observed, pa, pb = np.mean(a == b), a.mean(), b.mean()
    chance = pa * pb + (1 - pa) * (1 - pb)
    assert cohen_kappa(a, b) == pytest.approx((observed - chance) / (1 - chance))
    assert math.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))
    scores, labels = rng.normal(size=50).round(1), rng.integers(0, 2, 50)  # rounded: ties count half
    u = stats.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert auroc(scores, labels) == pytest.approx(u / ((labels == 1).sum() * (labels == 0).sum()))
    assert math.isnan(auroc([0.2, 0.4], [1, 1]))
