import numpy as np
import pytest

from replab.diting.meta import correlate, format_table, meta_table, plot_table


def test_perfect_and_inverse_agreement():
    human = np.array([0, 1, 2, 3, 4, 5, 6, 2, 3, 1], float)
    same = correlate(human * 2 + 1, human, n_boot=200)
    assert same["spearman"]["r"] == pytest.approx(1) and same["pearson"]["r"] == pytest.approx(1)
    assert correlate(-human, human, n_boot=200)["kendall"]["r"] == pytest.approx(-1)


def test_bootstrap_interval_contains_the_estimate_for_noisy_data(tmp_path):
    rng = np.random.default_rng(0)
    human = rng.integers(0, 7, 200).astype(float)
    table = meta_table({"good": human + rng.normal(0, 1, 200), "noise": rng.normal(0, 1, 200)}, human, n_boot=300)
    good, noise = table["good"]["spearman"], table["noise"]["spearman"]
    assert good["low"] <= good["r"] <= good["high"] and good["low"] > 0.7
    assert noise["low"] < 0 < noise["high"]
    assert "good" in format_table(table) and plot_table(table, tmp_path / "meta.png").exists()


def test_too_few_pairs():
    with pytest.raises(ValueError, match="at least 3"):
        correlate([1, 2], [1, 2])


def test_intervals_are_scipys_bca_on_a_known_case():
    from scipy import stats

    rng = np.random.default_rng(3)
    human = rng.integers(0, 7, 129).astype(float)  # DITING's n
    metric = human + rng.normal(0, 2, 129)
    got = correlate(metric, human, n_boot=500, seed=7)
    direct = stats.bootstrap(
        (metric, human), lambda a, b: stats.spearmanr(a, b).statistic, paired=True,
        vectorized=False, n_resamples=500, method="BCa", random_state=np.random.default_rng(7),
    )  # fmt: skip
    assert got["spearman"]["method"] == "BCa" and got["spearman"]["degenerate"] == 0
    assert (got["spearman"]["low"], got["spearman"]["high"]) == pytest.approx(tuple(direct.confidence_interval))


def test_degenerate_resamples_are_counted_and_the_interval_says_how_it_was_made():
    human = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 2], float)  # many resamples hold only zeros
    got = correlate(np.arange(10.0), human, n_boot=400)
    assert got["pearson"]["degenerate"] > 0 and got["pearson"]["method"] == "percentile (BCa undefined)"
    assert got["pearson"]["low"] <= got["pearson"]["r"] <= got["pearson"]["high"]
    perfect = correlate(human * 2 + 1, human, n_boot=100)["spearman"]  # every resample equal: BCa undefined too
    assert perfect["r"] == pytest.approx(1) and perfect["method"] != "BCa"
