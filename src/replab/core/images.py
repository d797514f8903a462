"""Saving image grids as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def grid_canvas(rows: list[torch.Tensor], pad: int = 2) -> np.ndarray:
    """Rows of ``[N, C, H, W]`` images in [0, 1] laid out on one white ``[H', W', 3]`` float canvas."""
    columns = max(len(r) for r in rows)
    _, c, h, w = rows[0].shape
    canvas = np.ones(((h + pad) * len(rows) + pad, (w + pad) * columns + pad, 3), dtype=np.float32)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            array = image.detach().float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
            if array.shape[-1] == 1:
                array = np.repeat(array, 3, axis=-1)
            top, left = pad + i * (h + pad), pad + j * (w + pad)
            canvas[top : top + h, left : left + w] = array
    return canvas


def save_grid(rows: list[torch.Tensor], path: str | Path, scale: int = 1, pad: int = 2) -> Path:
    """Save rows of ``[N, C, H, W]`` images in [0, 1] as one PNG; ``scale`` enlarges small images."""
    from PIL import Image

    canvas = grid_canvas(rows, pad)
    picture = Image.fromarray((canvas * 255).round().astype(np.uint8))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return path
