"""torch.distributed helpers for torchrun: rank, world size, rank-0 I/O, gather with gradients."""

from __future__ import annotations

import os

import torch
import torch.distributed as torch_dist


def is_initialized() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


def rank() -> int:
    return torch_dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    return torch_dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group that torchrun describes in the environment; False when not under torchrun."""
    if is_initialized():
        return True
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return False
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    torch_dist.init_process_group(backend=backend)
    return True


def barrier() -> None:
    if is_initialized():
        torch_dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    if not is_initialized():
        return tensor
    out = tensor.detach().clone()
    torch_dist.all_reduce(out)
    return out / world_size()


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        parts = [torch.empty_like(tensor) for _ in range(world_size())]
        torch_dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        torch_dist.all_reduce(grad)
        return grad.chunk(world_size(), dim=0)[rank()]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor over ranks along dim 0; gradients flow back to every rank's part."""
    if not is_initialized() or world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


def gather_batches(mine: torch.Tensor, n: int, batch_size: int) -> torch.Tensor | None:
    """Rank 0 gets the ``n`` items in order from ranks that each hold batches ``b % world == rank`` (of
    ``batch_size`` items, the last one possibly shorter); the other ranks get None."""
    world = world_size()
    if world == 1:
        return mine
    parts: list | None = [None] * world if is_main() else None
    torch_dist.gather_object(mine.cpu(), parts, dst=0)
    if not is_main():
        return None
    chunks = [part.split(batch_size) if len(part) else () for part in parts]
    return torch.cat([chunks[b % world][b // world] for b in range(-(-n // batch_size))])
