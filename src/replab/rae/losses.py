"""Decoder losses: L1 + perceptual (frozen-encoder features) + patch GAN with the adaptive weight."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PerceptualLoss(nn.Module):
    """LPIPS-style distance on a frozen network's token features: unit-normalise each token's
    channel vector, then average the squared difference over tokens and layers. Offline there are
    no VGG/LPIPS weights, so the frozen representation encoder itself supplies the features."""

    def __init__(self, feature_net: nn.Module) -> None:
        super().__init__()
        self.feature_net = feature_net

    def forward(self, reconstruction: torch.Tensor, target_features: list[torch.Tensor]) -> torch.Tensor:
        """``target_features``: ``feature_net.features(target)``, computed once by the caller."""
        wanted = [f.detach() for f in target_features]
        got = self.feature_net.features(reconstruction)
        loss = reconstruction.new_zeros(())
        for a, b in zip(got, wanted):
            loss = loss + (F.normalize(a.float(), dim=-1) - F.normalize(b.float(), dim=-1)).pow(2).sum(-1).mean()
        return loss / len(got)


class PatchDiscriminator(nn.Module):
    """A small PatchGAN: strided 4×4 convolutions to a map of real/fake logits, one per patch."""

    def __init__(self, channels: int, width: int = 64, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, layers):
            stride = 2 if i < layers - 1 else 1
            blocks += [
                nn.Conv2d(width * 2 ** (i - 1), width * 2**i, 4, stride, 1),
                nn.GroupNorm(8, width * 2**i),
                nn.LeakyReLU(0.2),
            ]
        blocks.append(nn.Conv2d(width * 2 ** (layers - 1), 1, 3, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())


def adaptive_weight(
    rec_loss: torch.Tensor, gan_loss: torch.Tensor, last_layer: torch.Tensor, max_weight: float
) -> torch.Tensor:
    """λ = ‖∇rec‖ / ‖∇gan‖ on the decoder's last layer, clamped to [0, max_weight], no gradient."""
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    gan_grad = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (gan_grad.norm() + 1e-4)).clamp(0.0, max_weight).detach()
