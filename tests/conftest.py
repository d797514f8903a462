import os

import pytest
import torch

os.environ.setdefault("REPLAB_NO_PROGRESS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tiny_local_vit(tmp_path):
    """A randomly initialised 2-block local-vit saved like the shipped one (28×28 → 7×7×32 tokens)."""
    from replab.rae.encoders import save_local_vit
    from replab.rae.local_vit import LocalViT, LocalViTConfig

    torch.manual_seed(0)
    folder = tmp_path / "tiny-local-vit"
    save_local_vit(LocalViT(LocalViTConfig(dim=32, depth=2, heads=2)), folder, dtype=torch.float32)
    return folder


@pytest.fixture(autouse=True)
def _isolated_ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLAB_LEDGER", str(tmp_path / "ledger.csv"))
