"""The cache of real images' features: what extract_features gives, served again only for the same network
and the same images."""

import numpy as np
import torch

from replab.core.real_features import accuracy_from_features, real_features
from replab.metrics.features import FeatureNet, FeatureNetSpec, classify_accuracy, extract_features


def test_cached_features_are_the_networks_and_follow_its_weights_and_the_images(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLAB_CACHE", str(tmp_path))
    torch.manual_seed(0)
    net = FeatureNet(FeatureNetSpec(width=4, feature_dim=8)).eval()
    images, labels = torch.rand(20, 1, 28, 28), torch.randint(0, 10, (20,))
    first = real_features(net, images)
    assert np.array_equal(first, extract_features(net, images)) and len(list(tmp_path.rglob("*.npy"))) == 1
    assert np.array_equal(real_features(net, images), first)  # served from the cache
    assert accuracy_from_features(net, first, labels) == classify_accuracy(net, images, labels)
    with torch.no_grad():
        net.fc.weight.mul_(2)  # another network: its own features, never the old ones
    assert np.array_equal(real_features(net, images), extract_features(net, images))
    other = images.flip(0)
    assert np.array_equal(real_features(net, other), extract_features(net, other))
    assert len(list(tmp_path.rglob("*.npy"))) == 3
