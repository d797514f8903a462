"""Retrieval and representation metrics: nDCG@k, Recall@k, MRR, anisotropy, mutual-kNN alignment."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def ranks_of_relevant(scores: torch.Tensor, relevant: Sequence[int]) -> torch.Tensor:
    """1-based rank of each query's single relevant document under ``scores [Q, D]`` (ties count against it)."""
    target = scores[torch.arange(len(scores)), torch.as_tensor(relevant)]
    return (scores >= target[:, None]).sum(1)


def retrieval_metrics(
    scores: torch.Tensor, relevant: Sequence[int] | Sequence[set[int]], k: int = 10
) -> dict[str, float]:
    """nDCG@k, Recall@1/k and MRR of ``scores [Q, D]``; ``relevant``: each query's relevant document, or its
    set of them (then binary-gain nDCG against the ideal ranking and recall = share of the set in the top k,
    as pytrec_eval and mteb compute them)."""
    if any(not isinstance(r, (int, np.integer)) for r in relevant):
        return _multi_relevant_metrics(torch.as_tensor(scores).double(), [set(r) for r in relevant], k)
    ranks = ranks_of_relevant(torch.as_tensor(scores).float(), relevant).double()
    gains = torch.where(ranks <= k, 1.0 / torch.log2(ranks + 1), torch.zeros_like(ranks))
    return {
        f"ndcg@{k}": gains.mean().item(),
        "recall@1": (ranks <= 1).double().mean().item(),
        f"recall@{k}": (ranks <= k).double().mean().item(),
        "mrr": (1.0 / ranks).mean().item(),
        "queries": len(ranks),
    }


def _multi_relevant_metrics(scores: torch.Tensor, relevant: list[set[int]], k: int) -> dict[str, float]:
    if any(not r for r in relevant):
        raise ValueError("every query needs at least one relevant document")
    order = scores.argsort(dim=1, descending=True, stable=True)
    hit = torch.zeros_like(order, dtype=torch.double)
    for q, docs in enumerate(relevant):
        hit[q] = torch.isin(order[q], torch.tensor(sorted(docs)))
    discount = 1.0 / torch.log2(torch.arange(2, scores.shape[1] + 2, dtype=torch.double))
    dcg = (hit[:, :k] * discount[:k]).sum(1)
    ideal = torch.tensor([discount[: min(k, len(r))].sum().item() for r in relevant], dtype=torch.double)
    sizes = torch.tensor([len(r) for r in relevant], dtype=torch.double)
    first = hit.argmax(dim=1).double() + 1
    return {
        f"ndcg@{k}": (dcg / ideal).mean().item(),
        "recall@1": (hit[:, :1].sum(1) / sizes).mean().item(),
        f"recall@{k}": (hit[:, :k].sum(1) / sizes).mean().item(),
        "mrr": (1.0 / first).mean().item(),
        "queries": len(relevant),
    }


def anisotropy(embeddings: np.ndarray | torch.Tensor) -> float:
    """Mean cosine similarity over all distinct pairs (0 for isotropic directions, 1 for a single one)."""
    x = torch.nn.functional.normalize(torch.as_tensor(np.asarray(embeddings)).double(), dim=-1)
    n = len(x)
    if n < 2:
        raise ValueError("anisotropy needs at least two embeddings")
    total = (x.sum(0) ** 2).sum() - n  # sum over i != j of cos(i, j)
    return (total / (n * (n - 1))).item()


def knn_sets(x: torch.Tensor, k: int) -> torch.Tensor:
    x = torch.nn.functional.normalize(x.double(), dim=-1)
    sims = x @ x.T
    sims.fill_diagonal_(-math.inf)
    return sims.topk(k, dim=1).indices


def mutual_knn_alignment(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, k: int = 10) -> float:
    """Mean overlap of the k nearest neighbours of item i in view A and in view B (Huh et al., 2024)."""
    a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
    if len(a) != len(b):
        raise ValueError(f"the two views hold {len(a)} and {len(b)} items; they must be paired")
    na, nb = knn_sets(a, k), knn_sets(b, k)
    overlap = [len(set(na[i].tolist()) & set(nb[i].tolist())) for i in range(len(a))]
    return float(np.mean(overlap) / k)
