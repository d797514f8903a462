import os
import socket
from collections.abc import Callable

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank: int, world: int, port: int, target: Callable, *args) -> None:
    """One gloo process of a data-parallel test: torchrun's environment, one thread, then ``target(*args)``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    os.environ["REPLAB_NO_PROGRESS"] = "1"
    torch.set_num_threads(1)
    target(*args)
    torch.distributed.destroy_process_group()


def spawn_ddp(world: int, target: Callable, *args) -> None:
    """Run ``target(*args)`` in ``world`` gloo processes (``target`` must be importable: module level)."""
    torch.multiprocessing.spawn(ddp_worker, args=(world, free_port(), target, *args), nprocs=world)
