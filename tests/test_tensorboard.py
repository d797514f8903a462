"""Every Run mirrors its metrics, images and config into TensorBoard event files, read back here with
tensorboard's own reader; a resumed run appends without duplicating the steps it logs again."""

import numpy as np
import pytest
import torch
from PIL import Image

from replab.core.run import Run

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def _events(folder):
    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    reader.Reload()
    return reader


def _session(folder, steps, checkpoint_at=None, resume=False, image_step=None):
    model = torch.nn.Linear(2, 2)
    with Run(folder, {"lr": 0.1, "data": {"name": "tiny"}}, kind="test-train", mutable=("steps",)) as run:
        if resume:
            assert run.resume({"model": model})["step"] == checkpoint_at
        for step in steps:
            run.log(step, loss=1.0 / step, lr=0.1, note="text is not a scalar", parts={"kl": 0.5})
            if step == checkpoint_at and not resume:
                run.save(step, {"model": model})
        if image_step is not None:
            pixels = (np.arange(12 * 16 * 3) % 255).astype(np.uint8).reshape(12, 16, 3)
            Image.fromarray(pixels).save(run.artifacts / f"samples_step{image_step}.png")
            Image.fromarray(pixels).save(run.artifacts / "recon.png")


def test_scalars_images_and_config_are_in_tensorboard_and_a_resume_appends(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLAB_TENSORBOARD", raising=False)
    folder = tmp_path / "run"
    _session(folder, range(1, 6), checkpoint_at=3, image_step=3)  # crashed after step 5; last checkpoint 3
    _session(folder, range(4, 8), checkpoint_at=3, resume=True, image_step=7)
    events = _events(folder)
    steps = [e.step for e in events.Scalars("loss")]
    assert steps == [1, 2, 3, 4, 5, 6, 7]  # 4 and 5 logged twice, shown once
    assert events.Scalars("loss")[-1].value == pytest.approx(1 / 7)
    assert [e.step for e in events.Scalars("parts/kl")] == steps
    assert "note" not in events.Tags()["scalars"]
    assert [e.step for e in events.Images("samples")] == [3, 7]  # a grid per step, one tag
    recon = events.Images("recon")  # written at the last step of each session; the crashed one's superseded
    assert [e.step for e in recon] == [7] and recon[0].width == 16 and recon[0].height == 12
    assert "config/text_summary" in events.Tags()["tensors"]


def test_the_switch_turns_it_off(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLAB_TENSORBOARD", "0")
    _session(tmp_path / "off", range(1, 3))
    assert not list((tmp_path / "off").glob("events.out.tfevents.*"))
    assert (tmp_path / "off" / "metrics.jsonl").exists()
