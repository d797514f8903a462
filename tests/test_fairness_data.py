"""The exact attributes and the skewed benchmarks (on the Fashion-MNIST training split, as shipped by Debian)."""

import json

import numpy as np
import pytest
import torch

from replab.cli import main
from replab.core.data import read_index_list
from replab.errors import DataError
from replab.fairness.attributes import CLASS_GROUP, ToneRule, class_groups, foreground_tone
from replab.fairness.benchmark import PRESETS, skew_indices


def test_tone_is_the_mean_foreground_intensity():
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, :2, :2] = torch.tensor([[0.2, 0.4], [0.6, 0.05]])  # 0.05 is background
    assert torch.allclose(foreground_tone(image), torch.tensor([0.4]))
    assert foreground_tone(torch.zeros(1, 1, 4, 4)).item() == 0


def test_tone_rule_splits_every_class_in_half():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(400, 1, 6, 6, generator=gen) * torch.rand(400, 1, 1, 1, generator=gen)
    labels = torch.arange(400) % 4
    rule = ToneRule.fit(images, labels, num_classes=4)
    groups = rule.groups(images, labels)
    for c in range(4):
        assert abs(groups[labels == c].float().mean().item() - 0.5) <= 0.01


def test_groups_follow_the_label():
    assert class_groups(torch.arange(10)).tolist() == list(CLASS_GROUP)


def test_skew_keeps_a_tenth_of_the_minority_where_asked():
    groups = (torch.arange(10000) // 10) % 2  # half of every class in each group
    labels = torch.arange(10000) % 10
    keep = skew_indices(PRESETS["tone-mixed"], groups, labels, seed=0)
    kept_groups, kept_labels = groups[keep], labels[keep]
    for c in range(10):
        minority = (kept_groups[kept_labels == c] == 0).sum().item()
        expected = 50 if c in PRESETS["tone-mixed"].classes else 500
        assert abs(minority - expected) < 4 * np.sqrt(expected)
    assert np.array_equal(keep, skew_indices(PRESETS["tone-mixed"], groups, labels, seed=0))  # seeded


def test_data_skew_command_writes_a_hashed_index_list(tmp_path):
    assert main(["data", "skew", "--preset", "tone-10x", "--out", str(tmp_path / "b")]) == 0
    info = json.loads((tmp_path / "b" / "benchmark.json").read_text())
    assert 0.08 < info["shares"]["dark"] < 0.1 and len(info["tone_thresholds"]) == 10
    keep = read_index_list(tmp_path / "b", 60000)
    assert len(keep) == json.loads((tmp_path / "b" / "indices.json").read_text())["n"]
    record = json.loads((tmp_path / "b" / "indices.json").read_text())
    record["indices"][0] += 1
    (tmp_path / "b" / "indices.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match="recorded hash"):
        read_index_list(tmp_path / "b")


def test_a_diffusion_run_trains_on_a_subset(tmp_path):
    from replab.core.data import write_index_list
    from replab.diffusion.train import train_diffusion
    from tests.diffusion_helpers import tiny_config, write_fake_latents

    rae = write_fake_latents(tmp_path / "rae", n=64)
    write_index_list(tmp_path / "subset", np.arange(0, 64, 2))
    run = train_diffusion(tiny_config(rae, f"subset={tmp_path / 'subset'}"), tmp_path / "dit")
    assert (run / "checkpoints").exists()
    write_index_list(tmp_path / "bad", np.array([0, 99]))
    with pytest.raises(DataError, match="the split has 64 items"):
        train_diffusion(tiny_config(rae, f"subset={tmp_path / 'bad'}"), tmp_path / "dit2")
