"""What the shipped local-vit encoder's tokens hold, per block, on Fashion-MNIST.

- pixel decodability: ridge regression from all tokens of a block to the 784 pixels (fit on 8,000
  training images, PSNR on 1,000 test images) — how much a decoder could recover linearly;
- class probe: logistic regression on mean-pooled final tokens (10,000 train → full test split).

    .venv/bin/python benchmarks/local_vit_probe.py
"""

from __future__ import annotations

import torch
from sklearn.linear_model import LogisticRegression

from replab.core.data import DataConfig, load_images
from replab.metrics.image import psnr
from replab.rae.encoders import EncoderConfig, build_encoder


@torch.no_grad()
def features(encoder, images: torch.Tensor, layer: int) -> torch.Tensor:
    parts = [encoder.features(images[i : i + 500])[layer] for i in range(0, len(images), 500)]
    return torch.cat(parts).flatten(1).double()


def main() -> None:
    encoder = build_encoder(EncoderConfig())
    train, test = load_images(DataConfig(limit=10000), "train"), load_images(DataConfig(), "test")
    x_train, x_test = train.float(slice(0, 8000)), test.float(slice(0, 1000))
    depth = len(encoder.features(x_test[:1])) - 1
    print(f"local-vit: {depth} blocks, tokens {encoder.channels}x{encoder.grid}x{encoder.grid}")
    for layer in range(depth + 1):
        a, b = features(encoder, x_train, layer), features(encoder, x_test, layer)
        mean = a.mean(0)
        a, b = a - mean, b - mean
        y = x_train.flatten(1).double()
        lam = 0.1 * a.pow(2).sum() / len(a)
        w = torch.linalg.solve(a.T @ a + lam * torch.eye(a.shape[1], dtype=a.dtype), a.T @ (y - y.mean(0)))
        pred = (b @ w + y.mean(0)).clamp(0, 1).float().view_as(x_test)
        name = f"block {layer + 1}" if layer < depth else "final (normed) tokens"
        print(f"  {name:<22} linear pixel PSNR {psnr(pred, x_test).mean().item():6.2f} dB")
    pooled_train = features(encoder, train.float(), depth).view(len(train), encoder.grid**2, -1).mean(1)
    pooled_test = features(encoder, test.float(), depth).view(len(test), encoder.grid**2, -1).mean(1)
    probe = LogisticRegression(max_iter=2000).fit(pooled_train.numpy(), train.labels.numpy())
    accuracy = probe.score(pooled_test.numpy(), test.labels.numpy())
    print(f"  linear class probe on mean-pooled final tokens: test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
