"""Sampling-time mitigation on fake generators whose attribute distribution is known exactly."""

import numpy as np
import pytest
import torch

from replab.errors import ConfigError
from replab.fairness.attributes import class_groups
from replab.fairness.quotas import balanced_labels, quotas
from replab.fairness.ratio import RatioInputs, RatioOptions
from replab.fairness.resample import importance_resample

# the generated-pilot, logistic setting these tests exercise (RatioOptions() is the validated one)
PILOT = {"against": "generated", "model": "logistic", "class_quota": False, "l2": None}


def test_balanced_conditioning_is_exact():
    target = np.array([0.4, 0.2, 0.3, 0.1])
    labels = balanced_labels(target, 1000)
    assert np.bincount(class_groups(labels).numpy(), minlength=4).tolist() == [400, 200, 300, 100]
    assert quotas(np.full(3, 1 / 3), 100).sum() == 100
    with pytest.raises(ConfigError, match="follow from the label"):
        balanced_labels(np.array([0.5, 0.5]), 10)


def _fake_generator(p_minority: float, accuracy: float):
    """'Images' that are their own group index (0 = the minority), read by a probe that is right with
    probability ``accuracy`` (its confusion matrix)."""
    rng = np.random.default_rng(1)

    def draw(count, _index):
        groups = (rng.random(count) >= p_minority).astype(int)
        return (torch.from_numpy(groups),), np.where(rng.random(count) < accuracy, groups, 1 - groups)

    return draw


def _confusion(accuracy):
    return np.array([[accuracy, 1 - accuracy], [1 - accuracy, accuracy]])


@pytest.mark.parametrize("accuracy", [1.0, 0.9])
def test_importance_resampling_hits_its_target_within_sampling_error(accuracy):
    draw, target = _fake_generator(0.1, accuracy), np.array([0.5, 0.5])
    (kept,), info = importance_resample(draw, target, _confusion(accuracy), n=4000, seed=0)
    share = (kept == 0).float().mean().item()
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / 4000) + 0.02  # + the pilot batch's estimation error
    assert 4.5 < info["draws_per_kept"] < 6.5  # 5 for an exact probe; 1 / P(predicted minority) = 5.6 at 90 %


def test_resampling_cannot_create_an_absent_group():
    def never(count, _):
        return (torch.zeros(count),), np.ones(count, int)

    with pytest.raises(ConfigError, match="no sample of group 0"):
        importance_resample(never, np.array([0.5, 0.5]), _confusion(1.0), n=10)


class _FakeNoiseAwareProbe(torch.nn.Module):
    """A fake probe whose logit for group 1 is the mean of x (group 0's is its negative)."""

    spec = type("Spec", (), {"noise_aware": True})()

    def forward(self, x, t):
        m = x.flatten(1).mean(1)
        return torch.stack([-m, m], 1)


def test_probe_guidance_pushes_each_sample_towards_its_group_inside_the_window():
    from replab.fairness.guidance import probe_guidance
    from replab.fairness.quotas import assign_quota

    assigned = assign_quota(np.array([0.5, 0.5]), 8)
    assert sorted(assigned.tolist()) == [0] * 4 + [1] * 4
    guided = probe_guidance(lambda x, t: torch.zeros_like(x), _FakeNoiseAwareProbe(), assigned, np.array([0.5, 0.5]),
                            scale=1.0, window=(0.2, 0.8))  # fmt: skip
    x = torch.zeros(8, 2, 3, 3)
    v = guided(x, 0.5)
    # v' = v − s·t/(1−t)·∇log p: towards group 1 (larger mean) the velocity is negative (Euler goes t → 0)
    sign = torch.where(assigned == 1, -1.0, 1.0)
    assert (v.flatten(1).mean(1) * sign > 0).all()
    assert torch.equal(guided(x, 0.9), torch.zeros_like(x))  # outside the window: untouched
    batch = probe_guidance(lambda x, t: torch.zeros_like(x), _FakeNoiseAwareProbe(), None, np.array([0.2, 0.8]), 1.0)
    assert (batch(x, 0.5).flatten(1).mean(1) < 0).all()  # the batch is pulled towards the 80 % group


def test_density_ratio_resampling_moves_towards_a_balanced_reference_without_labels():
    from replab.fairness.ratio import density_ratio_resample

    gen = torch.Generator().manual_seed(0)
    means = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])  # the two groups differ in their features

    def features(groups):
        return means[groups] + torch.randn(len(groups), 2, generator=gen)

    reference = features(torch.tensor([0, 1] * 150))  # a small balanced real set

    def draw(count, _):
        groups = (torch.rand(count, generator=gen) > 0.1).long()  # 10 % group 0
        return (groups,), features(groups)

    (kept,), info = density_ratio_resample(draw, RatioInputs(reference), n=1500, seed=0, options=RatioOptions(**PILOT))
    before = 0.1
    after = (kept == 0).float().mean().item()
    assert abs(after - 0.5) < 0.5 * abs(before - 0.5)  # the fairness discrepancy at least halved
    assert info["draws_per_kept"] > 1


def test_density_ratio_class_quota_keeps_the_class_mix_and_draws_only_open_classes():
    from replab.fairness.ratio import density_ratio_resample

    gen = torch.Generator().manual_seed(0)
    minority = torch.tensor([0.05, 0.1, 0.6])  # per class: the ratio prefers class 2, whose samples are darker
    group_mean = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
    class_mean = torch.tensor([[0.0, -2.0], [0.0, 0.0], [0.0, 2.0]])

    def features(groups, classes):
        return group_mean[groups] + class_mean[classes] + torch.randn(len(groups), 2, generator=gen)

    ref_classes = torch.arange(300) % 3
    reference = features(torch.arange(300) // 3 % 2, ref_classes)  # balanced in group and class
    asked = []

    def draw(count, index, labels=None):
        labels = torch.arange(count) % 3 if labels is None else labels
        asked.append(np.bincount(labels.numpy(), minlength=3).tolist())
        groups = (torch.rand(count, generator=gen) >= minority[labels]).long()
        return (groups, labels), features(groups, labels)

    options = RatioOptions(**{**PILOT, "l2": 1e-3, "class_quota": True}, cap_quantile=0.995)
    (groups, labels), info = density_ratio_resample(draw, RatioInputs(reference), n=900, batch=300, options=options,
                                                    num_classes=3, seed=0)  # fmt: skip
    assert np.bincount(labels.numpy(), minlength=3).tolist() == [300, 300, 300]
    raw = minority.mean().item()
    after = (groups == 0).float().mean().item()
    assert abs(after - 0.5) < 0.5 * abs(raw - 0.5)  # halved inside the classes, with the mix held
    assert info["class_quota"] and info["draws_per_kept"] > 1
    assert asked[0] == [100, 100, 100] and sum(map(sum, asked)) == info["drawn"]
    assert all(a[2] < a[1] for a in asked[1:])  # later batches follow each class's keep rate


def test_density_ratio_against_training_data_corrects_the_bias_without_selecting_on_artefacts():
    from replab.fairness.ratio import density_ratio_resample

    gen = torch.Generator().manual_seed(0)

    def real(groups):  # feature 0 carries the group; feature 1 is free of it
        signal = torch.stack([4.0 * groups - 2.0, torch.zeros(len(groups))], 1)
        return signal + torch.randn(len(groups), 2, generator=gen)

    def skewed(count):
        return (torch.rand(count, generator=gen) > 0.1).long()  # 10 % group 0, in the data and in the samples

    reference, training = real(torch.tensor([0, 1] * 200)), real(skewed(4000))
    artefact = torch.tensor([0.0, 1.5])  # the fake generator's own flaw: feature 1 shifted, as no real image is

    def draw(count, _):
        groups = skewed(count)
        feats = real(groups) + artefact
        return (groups, feats), feats

    results = {}
    for against in ("generated", "training"):
        options = RatioOptions(**{**PILOT, "against": against}, cap_quantile=0.999)
        (groups, feats), _ = density_ratio_resample(
            draw, RatioInputs(reference, training=training), n=1500, options=options
        )
        results[against] = ((groups == 0).float().mean().item(), feats[:, 1].mean().item())
    for share, _ in results.values():
        assert abs(share - 0.5) < 0.5 * abs(0.1 - 0.5)  # both halve the fairness discrepancy
    assert abs(results["training"][1] - 1.5) < 0.15  # the kept samples keep the generator's look
    assert results["generated"][1] < 1.0  # against samples, r also picks those that hide the artefact


def test_class_plan_asks_open_classes_for_their_expected_draws():
    from replab.fairness.rejection import class_plan

    need, tried, taken = np.array([0, 5, 10]), np.array([100, 100, 100]), np.array([50, 50, 10])
    assert np.bincount(class_plan(need, tried, taken, 500, 1), minlength=3).tolist() == [0, 13, 125]
    assert np.bincount(class_plan(need, tried, taken, 69, 1), minlength=3).tolist() == [0, 6, 62]  # scaled to fit
    assert np.bincount(class_plan(need, tried, taken, 30, 0)).tolist() == [10, 10, 10]  # the pilot: every class


def test_density_ratio_options_are_checked():
    from replab.fairness.ratio import density_ratio_resample

    with pytest.raises(ConfigError, match="ratio.cap_quantile"):
        RatioOptions(cap_quantile=1.5)
    with pytest.raises(ConfigError, match="class-conditional"):
        density_ratio_resample(
            lambda *a: None, RatioInputs(torch.zeros(4, 2)), n=4, options=RatioOptions(**{**PILOT, "class_quota": True})
        )
    with pytest.raises(ConfigError, match="ratio.against"):
        RatioOptions(against="test")
    with pytest.raises(ConfigError, match="training images"):
        density_ratio_resample(
            lambda *a: None,
            RatioInputs(torch.zeros(4, 2)),
            n=4,
            options=RatioOptions(**{**PILOT, "against": "training"}),
        )
    from replab.fairness.ratio import ratio_power

    assert ratio_power("auto") == "auto" and ratio_power("2") == 2.0
    for bad in ("strong", "0", "-1"):
        with pytest.raises(ConfigError, match="ratio.power"):
            RatioOptions(power=ratio_power(bad))


def test_ratio_power_auto_restores_a_tilt_the_generator_renders_weakly():
    """The fake generator draws its groups from the data's skew but makes feature 0, the group's cue, half as
    varied about the data's mean as real images are (guidance narrows samples towards the mode): r fitted on
    real images then tilts its samples too little at power 1, and the matched power fixes it."""
    from replab.fairness.ratio import density_ratio_resample

    gen = torch.Generator().manual_seed(0)

    def images(groups, spread=1.0):
        real = torch.stack([2.0 * groups - 1.0, torch.zeros(len(groups))], 1) + torch.randn(len(groups), 2,
                                                                                          generator=gen)  # fmt: skip
        real[:, 0] = 0.8 + spread * (real[:, 0] - 0.8)  # 0.8: feature 0's mean over the skewed data
        return real

    def skewed(count):
        return (torch.rand(count, generator=gen) > 0.1).long()  # 10 % group 0

    reference, training = images(torch.tensor([0, 1] * 300)), images(skewed(4000))

    def draw(count, _):
        groups = skewed(count)
        return (groups,), images(groups, spread=0.5)

    shares, infos = {}, {}
    for power in (1.0, "auto"):
        options = RatioOptions(**{**PILOT, "against": "training"}, cap_quantile=0.999, power=power)
        (groups,), infos[power] = density_ratio_resample(
            draw, RatioInputs(reference, training=training), n=1500, options=options
        )
        shares[power] = (groups == 0).float().mean().item()
    assert infos[1.0]["power_used"] == 1.0 and infos["auto"]["power_used"] > 1.5
    assert abs(shares[1.0] - 0.5) > 0.5 * abs(0.1 - 0.5)  # power 1 falls short of halving
    assert abs(shares["auto"] - 0.5) < 0.5 * abs(0.1 - 0.5)  # the matched power halves it
    assert infos["auto"]["draws_per_kept"] > infos[1.0]["draws_per_kept"]


def test_matching_power_solves_the_mean_score_and_reports_its_edges():
    from replab.fairness.ratio import matching_power

    score = np.linspace(-2, 2, 401)
    power = matching_power(score, 0.5, ceiling=10.0)
    w = np.exp(power * score)
    assert abs(np.sum(w * score) / w.sum() - 0.5) < 1e-6
    assert matching_power(score, -1.0, ceiling=10.0) == 0.0  # already past the reference: keep all
    assert matching_power(score, 5.0, ceiling=1.0) == 50.0  # unreachable under the cap: the highest power
    labels = np.repeat([0, 1], [200, 201])
    two = matching_power(score, 0.0, ceiling=10.0, labels=labels)
    w = np.exp(two * score)
    per_class = [np.sum(w[labels == c] * score[labels == c]) / w[labels == c].sum() for c in (0, 1)]
    assert abs(np.mean(per_class)) < 1e-6 and two > 0


def _two_groups(gen: torch.Generator, shift: torch.Tensor | None = None):
    """Real images' features (feature 0 carries the group, 4 apart; ``shift`` moves it per class) and a 10 %
    group-0 skew, as in the data and in the samples."""

    def real(groups, classes=None):
        feats = torch.stack([4.0 * groups - 2.0, torch.zeros(len(groups))], 1) + torch.randn(len(groups), 2,
                                                                                           generator=gen)  # fmt: skip
        if shift is not None:
            feats[:, 0] += shift[classes]
        return feats

    def skewed(count):
        return (torch.rand(count, generator=gen) > 0.1).long()

    return real, skewed


def test_mixture_ratio_corrects_the_mix_without_tilting_inside_a_group():
    """The true ratio of a skewed mix is one value per group. A linear logit also moves the kept light samples
    towards the dark ones' look; the latent-group mixture keeps each group's own distribution."""
    from replab.fairness.ratio import density_ratio_resample

    gen = torch.Generator().manual_seed(0)
    real, skewed = _two_groups(gen)
    reference, training = real(torch.tensor([0, 1] * 300)), real(skewed(4000))

    def draw(count, _):
        groups = skewed(count)
        feats = real(groups)
        return (groups, feats), feats

    kept = {}
    for model in ("logistic", "mixture"):
        options = RatioOptions(**{**PILOT, "against": "training", "model": model}, cap_quantile=0.999)
        (groups, feats), info = density_ratio_resample(draw, RatioInputs(reference, training=training), n=1500,
                                                       options=options, target=np.array([0.5, 0.5]))  # fmt: skip
        kept[model] = ((groups == 0).float().mean().item(), feats[groups == 1, 0].mean().item(), info)
    for share, _, _ in kept.values():
        assert abs(share - 0.5) < 0.5 * abs(0.1 - 0.5)  # both halve the fairness discrepancy
    assert kept["logistic"][1] < 2.0 - 0.3  # the light samples kept look darker than light ones do
    assert abs(kept["mixture"][1] - 2.0) < 0.15  # ... but not with the mixture
    assert sorted(kept["mixture"][2]["latent_shares"]) == pytest.approx([0.1, 0.9], abs=0.05)
    assert kept["mixture"][2]["l2"] == 1e-4 and kept["logistic"][2]["l2"] == 1e-2


def test_mixture_ratio_with_class_offsets_finds_a_boundary_that_differs_by_class():
    """Where the group's cue sits differs by class (a dark sandal is lighter than a light coat): one pooled
    boundary cannot separate the groups, a per-class offset can; the classes come from the generator's labels."""
    from replab.fairness.density_ratio import fit_mixture_log_ratio
    from replab.fairness.ratio import density_ratio_resample

    gen = torch.Generator().manual_seed(0)
    real, skewed = _two_groups(gen, shift=torch.tensor([-3.0, 0.0, 3.0]))
    ref_groups, ref_classes = torch.arange(600) // 3 % 2, torch.arange(600) % 3
    train_classes = torch.arange(6000) % 3
    reference, training = real(ref_groups, ref_classes), real(skewed(6000), train_classes)

    def draw(count, index, labels=None):
        labels = torch.arange(count) % 3 if labels is None else labels
        groups = skewed(count)
        return (groups, labels), real(groups, labels)

    options = RatioOptions(cap_quantile=0.999, against="training", model="mixture", class_quota=True)
    (groups, labels), _ = density_ratio_resample(
        draw, RatioInputs(reference, ref_classes, training, train_classes), n=900, batch=300, options=options,
        num_classes=3, target=np.array([0.5, 0.5]))  # fmt: skip
    shares = [(groups[labels == c] == 0).float().mean().item() for c in range(3)]
    assert all(abs(s - 0.5) < 0.5 * abs(0.1 - 0.5) for s in shares)  # halved inside every class
    pooled = fit_mixture_log_ratio(training, reference, np.array([0.5, 0.5]))  # the same fit without the classes
    (groups, labels), feats = draw(3000, 0)
    weight = pooled(feats).exp()
    pooled_shares = [float(weight[(labels == c) & (groups == 0)].sum() / weight[labels == c].sum()) for c in range(3)]
    assert min(abs(s - 0.5) for s in pooled_shares) > 0.5 * abs(0.1 - 0.5), pooled_shares


def test_mixture_ratio_needs_its_target_and_the_reference_classes():
    from replab.fairness.ratio import density_ratio_resample

    with pytest.raises(ConfigError, match="ratio.model"):
        RatioOptions(model="forest")
    with pytest.raises(ConfigError, match="target"):
        density_ratio_resample(
            lambda *a: None, RatioInputs(torch.zeros(4, 2)), n=4, options=RatioOptions(**{**PILOT, "model": "mixture"})
        )
    with pytest.raises(ConfigError, match="reference's classes"):
        mixture = RatioOptions(**{**PILOT, "model": "mixture"})
        density_ratio_resample(lambda *a: None, RatioInputs(torch.zeros(4, 2)), n=4, options=mixture, num_classes=3,
                               target=np.array([0.5, 0.5]))  # fmt: skip
