"""InfoNCE with in-batch and hard negatives, gathered across processes, optionally cached (GradCache).

The cached form (Gao et al., 2021) computes every embedding without a graph, takes the loss gradient
with respect to the embeddings, then re-runs each chunk with a graph and back-propagates that gradient:
the effective batch is limited by the loss, not by activation memory. Chunks replay their RNG state so
dropout masks match and the cached loss equals the plain one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from replab.core import dist

EmbedFn = Callable[[Sequence[Sequence[int]]], torch.Tensor]


def info_nce(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor | None = None,
    temperature: float = 0.03,
    same_side: bool = False,
) -> torch.Tensor:
    """Mean cross-entropy of each anchor against all positives and negatives of the (global) batch.

    Under ``torchrun`` the texts of every process are gathered with gradients; anchor ``i`` of rank
    ``r`` matches gathered positive ``r·B + i``, so N processes equal one process with N× the batch.

    ``same_side`` adds the negatives of GTE's "improved contrastive loss" (Li et al., 2023): anchor i
    against the other anchors, positive i against the other positives and against the other anchors.
    These repel texts of the same kind from each other, which InfoNCE alone never does directly (the
    documents of a batch are only pushed away from queries), and so act on anisotropy."""
    anchors = F.normalize(anchors.float(), dim=-1)
    positives = F.normalize(positives.float(), dim=-1)
    all_positives = dist.all_gather_with_grad(positives)
    docs = [all_positives]
    if negatives is not None:
        docs.append(dist.all_gather_with_grad(F.normalize(negatives.float(), dim=-1)))
    labels = torch.arange(len(anchors), device=anchors.device) + dist.rank() * len(anchors)
    logits = [anchors @ torch.cat(docs).T]
    if same_side:
        all_anchors = dist.all_gather_with_grad(anchors)
        itself = F.one_hot(labels, len(all_anchors)).bool()  # a text is no negative of its own pair
        for rows, cols in ((anchors, all_anchors), (positives, all_positives), (positives, all_anchors)):
            logits.append((rows @ cols.T).masked_fill(itself, float("-inf")))
    return F.cross_entropy(torch.cat(logits, dim=1) / temperature, labels)


def contrastive_backward(
    embed: EmbedFn,
    anchors: Sequence[Sequence[int]],
    positives: Sequence[Sequence[int]],
    negatives: Sequence[Sequence[int]] | None,
    temperature: float,
    chunk_size: int = 0,
    same_side: bool = False,
) -> float:
    """Compute the loss and back-propagate it into the model; ``chunk_size > 0`` uses the cached loss."""
    groups = [anchors, positives] + ([negatives] if negatives is not None else [])
    if chunk_size <= 0 or max(len(g) for g in groups) <= chunk_size:
        # one call for all texts: the shared prompt prefix runs once and length-sorting spans every group
        embeddings = embed([row for g in groups for row in g]).split([len(g) for g in groups])
        loss = info_nce(*embeddings, temperature=temperature, same_side=same_side)
        loss.backward()
        return loss.item()
    chunks = [(gi, rows[i : i + chunk_size]) for gi, rows in enumerate(groups) for i in range(0, len(rows), chunk_size)]
    states, reps = [], []
    with torch.no_grad():
        for _, rows in chunks:
            states.append(torch.get_rng_state())
            reps.append(embed(rows))
    leaves = [r.detach().requires_grad_(True) for r in reps]
    joined = [torch.cat([leaf for (gi, _), leaf in zip(chunks, leaves) if gi == g]) for g in range(len(groups))]
    loss = info_nce(*joined, temperature=temperature, same_side=same_side)
    loss.backward()
    current = torch.get_rng_state()
    for (_, rows), state, leaf in zip(chunks, states, leaves):
        torch.set_rng_state(state)
        embed(rows).backward(leaf.grad)
    torch.set_rng_state(current)
    return loss.item()
