import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from replab.core.config import load_config
from replab.errors import CheckpointError, ConfigError
from replab.rae.decoder import DECODER_SIZES, ViTDecoder
from replab.rae.losses import adaptive_weight
from replab.rae.model import NoiseAugConfig, RAEConfig, load_rae, noise_sigma
from replab.rae.reconstruct import reconstruct
from replab.rae.train import train_rae
from tests.rae_helpers import TINY_RAE


def _config(encoder_folder, *extra):
    return load_config(RAEConfig, "rae", "fmnist", [*TINY_RAE, f"encoder.weights={encoder_folder}", *extra])


def test_decoder_sizes_and_shapes():
    decoder = ViTDecoder(in_channels=32, grid=7, patch_size=4, out_channels=1, size="tiny")
    assert decoder(torch.randn(2, 32, 7, 7)).shape == (2, 1, 28, 28)
    with torch.device("meta"):
        base = ViTDecoder(768, 16, 16, 3, "B")
    params = sum(p.numel() for p in base.parameters())
    assert 85e6 < params < 88e6  # a ViT-B: 12 blocks of width 768
    assert set(DECODER_SIZES) == {"tiny", "S", "B", "L", "XL"}


def test_noise_augmentation_distributions():
    gen = torch.Generator().manual_seed(0)
    uniform = noise_sigma(10000, NoiseAugConfig(tau=0.8), gen)
    assert uniform.min() >= 0 and uniform.max() <= 0.8 and abs(uniform.mean() - 0.4) < 0.02
    assert (noise_sigma(100, NoiseAugConfig(tau=0.8, distribution="half-normal"), gen) >= 0).all()
    assert (noise_sigma(5, NoiseAugConfig(distribution="none"), gen) == 0).all()
    with pytest.raises(ConfigError, match="half-normal"):
        noise_sigma(5, NoiseAugConfig(distribution="gamma"), gen)


def test_adaptive_weight_is_the_gradient_norm_ratio():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    rec, gan = (3 * w).sum(), (w**2).sum()  # grads: [3, 3] and [2, 4]
    expected = torch.tensor(18.0).sqrt() / (torch.tensor(20.0).sqrt() + 1e-4)
    assert torch.allclose(adaptive_weight(rec, gan, w, 1e4), expected)
    assert adaptive_weight(rec, gan, w, 0.5) == 0.5


def test_decoder_loss_falls_on_a_fixed_batch(tiny_local_vit):
    from replab.core.data import DataConfig, load_images
    from replab.rae.encoders import EncoderConfig, build_encoder
    from replab.rae.model import build_decoder

    torch.manual_seed(0)
    config = _config(tiny_local_vit)
    encoder = build_encoder(EncoderConfig(weights=str(tiny_local_vit)))
    decoder = build_decoder(config, encoder)
    images = load_images(DataConfig(limit=8), "train").float()
    latents = encoder(images)
    opt = torch.optim.AdamW(decoder.parameters(), lr=1e-3)
    losses = []
    for _ in range(40):
        loss = (decoder(latents) - (images * 2 - 1)).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_train_then_reconstruct(tiny_local_vit, tmp_path, capsys):
    out = tmp_path / "rae"
    train_rae(_config(tiny_local_vit, "train.steps=4"), out)
    assert (out / "checkpoints" / "step_00000004" / "model.safetensors").exists()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "l1" in r] == [2, 4]
    assert json.loads((out / "footprint.json").read_text())["units"]["images"] == 64
    results = reconstruct(out, tmp_path / "recon.png", n=40, grid=8)
    assert (tmp_path / "recon.png").exists()
    assert 0 < results["psnr_db"] < 60 and -1 <= results["ssim"] <= 1 and results["rFD-fmnist"] >= 0
    assert "PSNR" in capsys.readouterr().out


def test_rae_run_of_another_decoder_size_is_refused(tiny_local_vit, tmp_path):
    out = tmp_path / "rae"
    train_rae(_config(tiny_local_vit, "train.steps=2"), out)
    with pytest.raises(CheckpointError, match="decoder.size: 'tiny' in the run, 'S' now"):
        train_rae(_config(tiny_local_vit, "train.steps=2", "decoder.size=S"), out)
    assert load_rae(out)[1].decoder.size == "tiny"  # the run is intact


def _train_command(out, encoder, steps):
    return [
        sys.executable, "-m", "replab.cli", "rae", "train", "--preset", "fmnist", "--out", str(out),
        *TINY_RAE, f"encoder.weights={encoder}", f"train.steps={steps}", "train.ckpt_every=4",
    ]  # fmt: skip


def test_sigkill_then_resume_equals_an_uninterrupted_run(tiny_local_vit, tmp_path):
    env = {**os.environ, "REPLAB_NO_PROGRESS": "1"}
    steps = 16  # the first checkpoint (step 4) is 12 steps, about 3 s, before the end: time to kill it
    subprocess.run(_train_command(tmp_path / "whole", tiny_local_vit, steps), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _train_command(killed, tiny_local_vit, steps), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not list((killed / "checkpoints").glob("step_*[0-9]")) and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted_at = sorted(p.name for p in (killed / "checkpoints").glob("step_*[0-9]"))[-1]
    assert interrupted_at != f"step_{steps:08d}", "the run finished before it could be killed"

    subprocess.run(_train_command(killed, tiny_local_vit, steps), check=True, env=env, capture_output=True)
    final = f"checkpoints/step_{steps:08d}/model.safetensors"
    whole, resumed = load_file(str(tmp_path / "whole" / final)), load_file(str(killed / final))
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key
    events = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "resume" for e in events)
