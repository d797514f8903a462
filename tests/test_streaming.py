"""Streaming image data (ImageFolder and WebDataset shards), online and cached latents, exact resume and
DDP on the streaming path — on a synthetic ImageNet-layout folder with one corrupt file."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from replab.core.data import DataConfig, ImageSet, open_images
from replab.core.image_files import center_crop, write_shards
from replab.errors import ConfigError, DataError
from replab.rae.latent_cache import CachedLatents, encode_to_cache
from replab.rae.train import train_rae
from tests.conftest import spawn_ddp
from tests.streaming_helpers import (
    CLASSES,
    CORRUPT,
    rae_config,
    train_streaming_dit,
    write_imagenet_folder,
    write_tiny_dinov2,
)


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    """200 JPEGs of mixed sizes in 4 class folders plus one corrupt file, and its tar-shard copy."""
    root = write_imagenet_folder(tmp_path_factory.mktemp("imagenet"))
    shards = tmp_path_factory.mktemp("shards")
    write_shards(root, shards, per_shard=64)
    return root, shards


@pytest.fixture(scope="module")
def dinov2(tmp_path_factory):
    return write_tiny_dinov2(tmp_path_factory.mktemp("dinov2"))


@pytest.fixture(scope="module")
def rae_run(imagenet, dinov2, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "rae"
    train_rae(rae_config(imagenet[0], dinov2), out)
    return out


def test_adm_centre_crop_keeps_the_middle_square():
    image = Image.fromarray(np.arange(100 * 300, dtype=np.uint32).reshape(100, 300).astype(np.uint8))
    assert center_crop(image, 32).size == (32, 32)
    big = Image.new("RGB", (1000, 700))
    assert center_crop(big, 64).size == (64, 64)  # halved by box filter twice, then bicubic to 64 short side


def test_folder_and_shards_stream_the_same_images_as_memory(imagenet, tmp_path):
    root, shards = imagenet
    clean = write_imagenet_folder(tmp_path / "clean", corrupt=False)  # the same images, no corrupt file
    config = DataConfig(source="folder", path=str(clean), image_size=32, channels=3)
    memory = open_images(config, "train")
    assert isinstance(memory, ImageSet) and len(memory) == 200 and memory.class_names == list(CLASSES)
    stream = open_images(replace(config, mode="stream", workers=2), "train")
    assert not isinstance(stream, ImageSet) and len(stream) == 200
    lists = [torch.tensor([5, 199, 0, 77]), torch.tensor([120, 3])]
    for a, b in zip(memory.batches(lists), stream.batches(lists)):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    # the tar copy holds the same bytes, so the same pixels, in the same order
    tar = open_images(DataConfig(source="shards", path=str(shards), image_size=32, channels=3, workers=2), "train")
    folder = open_images(replace(config, path=str(root), mode="stream"), "train")
    assert len(tar) == len(folder) == 201 and tar.class_names == list(CLASSES)
    with pytest.raises(DataError, match="broken_0007"):
        list(tar.batches([torch.arange(len(tar))]))
    bad = [str(f) for f in folder.dataset.files].index(str(root / "train" / CORRUPT))
    order = torch.tensor([i for i in range(201) if i != bad])
    for a, b in zip(tar.batches([order[:100], order[100:]]), folder.batches([order[:100], order[100:]])):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert json.loads((shards / "train" / "shards.json").read_text())["shardlist"][0]["nsamples"] == 64


def test_corrupt_file_stops_a_run_with_its_name_or_is_skipped_and_counted(imagenet, dinov2, tmp_path):
    root, _ = imagenet
    with pytest.raises(DataError, match="broken_0007.JPEG"):
        train_rae(rae_config(root, dinov2, "folder", "data.skip_corrupt=false", "train.steps=2", "stats_images=201"),
                  tmp_path / "strict")  # fmt: skip
    out = tmp_path / "skip"
    train_rae(rae_config(root, dinov2, "folder", "stats_images=201"), out)
    assert (out / "skipped_files.txt").read_text().strip().endswith(CORRUPT)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "skipped_files" in {k for row in rows for k in row}


def test_rae_decoder_trains_on_tar_shards(imagenet, dinov2, tmp_path):
    out = tmp_path / "rae-shards"
    train_rae(rae_config(imagenet[1], dinov2, "shards"), out)
    assert (out / "checkpoints" / "step_00000004").is_dir()


def test_dit_trains_online_and_cached_and_cache_resumes(rae_run, tmp_path):
    train_streaming_dit(str(rae_run), str(tmp_path / "online"), "online")
    cache = tmp_path / "cache"
    encode_to_cache(rae_run, cache, shard_size=64, batch_size=32)
    latents = CachedLatents(cache)
    assert len(latents) == 201 and latents.shape == (16, 4, 4)
    (cache / "shard-00002.npy").unlink()  # an interrupted job: rerunning encodes only what is missing
    with pytest.raises(DataError, match="1 of 4 shards missing"):
        CachedLatents(cache)
    before = (cache / "shard-00000.npy").stat().st_mtime_ns
    encode_to_cache(rae_run, cache, shard_size=64, batch_size=32)
    assert (cache / "shard-00000.npy").stat().st_mtime_ns == before
    x, y, kept = CachedLatents(cache).rows(torch.arange(201))
    assert int((~kept).sum()) == 1 and torch.isfinite(x).all()  # the corrupt file's row is marked, not trained on
    train_streaming_dit(str(rae_run), str(tmp_path / "cached"), "cached", f"latents_cache={cache}")
    online = load_file(str(tmp_path / "online/checkpoints/step_00000004/model.safetensors"))
    cached = load_file(str(tmp_path / "cached/checkpoints/step_00000004/model.safetensors"))
    # the same batches; the cache holds fp16 latents, the online encoder fp32
    assert max((online[k] - cached[k]).abs().max().item() for k in online) < 1e-2
    with pytest.raises(ConfigError, match="train_images"):
        train_streaming_dit(str(rae_run), str(tmp_path / "x"), "online", "train_images=10")


def _dit_command(rae, out):
    code = "from tests.streaming_helpers import train_streaming_dit; train_streaming_dit(*__import__('sys').argv[1:])"
    return [sys.executable, "-c", code, str(rae), str(out), "online", "train.steps=12", "train.ckpt_every=3"]


def test_sigkill_then_resume_equals_an_uninterrupted_streaming_run(rae_run, tmp_path):
    env = {**os.environ, "REPLAB_NO_PROGRESS": "1"}
    cwd = Path(__file__).resolve().parents[1]
    subprocess.run(_dit_command(rae_run, tmp_path / "whole"), check=True, env=env, cwd=cwd, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_dit_command(rae_run, killed), env=env, cwd=cwd, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while not list((killed / "checkpoints").glob("step_*[0-9]")) and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its DataLoader workers
    proc.wait()
    assert sorted(p.name for p in (killed / "checkpoints").glob("step_*[0-9]"))[-1] != "step_00000012"
    subprocess.run(_dit_command(rae_run, killed), check=True, env=env, cwd=cwd, capture_output=True)
    final = "checkpoints/step_00000012/model.safetensors"
    whole, resumed = load_file(str(tmp_path / "whole" / final)), load_file(str(killed / final))
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key


def test_ddp_two_gloo_processes_equal_one_process_on_the_streaming_path(rae_run, tmp_path):
    train_streaming_dit(str(rae_run), str(tmp_path / "single"), "online")
    spawn_ddp(2, train_streaming_dit, str(rae_run), str(tmp_path / "ddp"), "online")
    a = load_file(str(tmp_path / "single/checkpoints/step_00000004/model.safetensors"))
    b = load_file(str(tmp_path / "ddp/checkpoints/step_00000004/model.safetensors"))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key


def test_gpu_check_runs_dry_on_the_cpu(tmp_path):
    from benchmarks.gpu_check import main, peak_tflops

    results = main(["--dry", "--out", str(tmp_path / "gpu.json")])
    step = results["train"]["DiT-DH-tiny"]
    assert step["batch"] == 8 and step["tflop_per_step"] > 0 and step["mfu"] is None
    assert results["online_vs_cached"]["online_s_per_step"] > 0 and results["sampling"]["images_per_s"] > 0
    assert json.loads((tmp_path / "gpu.json").read_text())["dry"] is True
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.0 and peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0


def test_modes_are_chosen_by_size_and_bad_choices_are_named(imagenet, rae_run, tmp_path):
    root, shards = imagenet
    folder = DataConfig(source="folder", path=str(root), image_size=32, channels=3, skip_corrupt=True)
    memory = open_images(folder, "train")  # 201 files: under stream_above
    assert isinstance(memory, ImageSet) and len(memory) == 200  # the corrupt one skipped
    assert not isinstance(open_images(replace(folder, stream_above=100), "train"), ImageSet)
    with pytest.raises(ConfigError, match="data.mode: unknown 'disk'"):
        open_images(replace(folder, mode="disk"), "train")
    with pytest.raises(ConfigError, match="fmnist"):
        open_images(DataConfig(mode="stream"), "train")
    with pytest.raises(DataError, match="no tar shards"):
        open_images(DataConfig(source="shards", path=str(tmp_path)), "train")
    from replab.diffusion.latents import latent_mode

    assert latent_mode(rae_run, "auto", tmp_path / "no-cache") == "online"  # the RAE run streams
    with pytest.raises(ConfigError, match="latents: unknown mode 'disk'"):
        latent_mode(rae_run, "disk")
    cache = encode_to_cache(rae_run, tmp_path / "cache", shard_size=128)
    assert latent_mode(rae_run, "auto", cache) == "cached"
    with pytest.raises(DataError, match="another version of the RAE run"):
        CachedLatents(cache, fingerprint="0123456789abcdef")
