"""How memory and time grow with the data: peak RSS of ``replab diffusion train`` (a few steps, tiny model) over
synthetic ImageNet-layout folders of 256² JPEGs, in the streaming modes (online encoding, cached latents)
and in the in-memory pipeline side by side; data-loader throughput against the decode-only limit of the
same workers; ``replab rae encode`` throughput.

    python benchmarks/scale_memory.py --root /tmp/scale --sizes 10000 50000 100000 --memory-sizes 10000 20000

Folders are built once under --root (class folders of 1,000 images; a larger folder links the smaller's
files and adds its own). The RSS is sampled every 50 ms over the trainer and its DataLoader workers: the
trainer's own peak and the peak of the sum over the process tree (shared pages counted once per process).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import psutil

PER_CLASS = 1000
SIZE = 256


def _write_class(args: tuple[Path, int, int]) -> None:
    from PIL import Image

    folder, c, count = args
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(c)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    for i in range(count):
        path = folder / f"img_{i:05d}.JPEG"
        if path.exists():
            continue
        a, b, phase = rng.uniform(0.5, 4, size=3)
        base = np.stack([np.sin(a * 6 * xx + phase), np.cos(b * 6 * yy), np.sin(3 * (xx + yy) + a)], -1)
        pixels = np.clip(128 + 90 * base + rng.normal(0, 6, size=(SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=90)


def make_folders(root: Path, sizes: list[int]) -> dict[int, Path]:
    """``root/images`` with max(sizes) images in classes of 1,000; ``root/n<N>/train`` links the first N."""
    largest = max(sizes)
    classes = -(-largest // PER_CLASS)
    with Pool(2) as pool:
        pool.map(_write_class, [(root / "images" / f"c{c:04d}", c, PER_CLASS) for c in range(classes)])
    folders = {}
    for n in sizes:
        folder = root / f"n{n}" / "train"
        if not folder.exists():
            for c in range(-(-n // PER_CLASS)):
                (folder / f"c{c:04d}").mkdir(parents=True)
                for i in range(min(PER_CLASS, n - c * PER_CLASS)):
                    os.symlink(
                        root / "images" / f"c{c:04d}" / f"img_{i:05d}.JPEG", folder / f"c{c:04d}" / f"i{i:05d}.JPEG"
                    )
        folders[n] = folder.parent
    return folders


def peak_rss(command: list[str], env: dict) -> dict:
    """Run ``command``; its own peak RSS and the peak summed RSS of it and its children (MiB), and wall time."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    own = tree = 0
    while proc.poll() is None:
        try:
            mine = ps.memory_info().rss
            total = mine + sum(c.memory_info().rss for c in ps.children(recursive=True))
            own, tree = max(own, mine), max(tree, total)
        except psutil.Error:
            pass
        time.sleep(0.05)
    stderr = proc.stderr.read()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    return {"own_mib": own / 2**20, "tree_mib": tree / 2**20, "wall_s": time.perf_counter() - start}


def replab(*args: str) -> list[str]:
    return [sys.executable, "-m", "replab.cli", *args]


RAE = ["data.source=folder", f"data.image_size={SIZE}", "data.channels=3", "encoder.name=dinov2",
       "encoder.input_size=56", "decoder.size=tiny", "loss.gan=0", "loss.perceptual=0", "stats_images=256",
       "train.steps=1", "train.batch_size=8", "train.warmup_steps=1", "train.threads=2", "train.bf16=false",
       "data.workers=2"]  # fmt: skip
DIT = ["model.name=DiT-DH-tiny", "model.style=official-rae", "train.batch_size=64", "train.steps=20",
       "train.warmup_steps=1", "train.ckpt_every=20", "train.log_every=10", "train.threads=2",
       "train.bf16=false"]  # fmt: skip


def _decode_all(files: list[str]) -> int:
    from replab.core.image_files import decode_image

    for f in files:
        decode_image(Path(f), SIZE, 3, f)
    return len(files)


def loader_throughput(folder: Path, workers: int = 2, batches: int = 40, batch: int = 64) -> dict:
    """Images/s through ``StreamingImages.batches`` vs the same number of processes only decoding the same files
    (nothing sent back): the loader's overhead is the gap. Both read files the first pass left in the page cache."""
    import torch

    from replab.core.data import DataConfig, open_images

    data = open_images(DataConfig(source="folder", path=str(folder), image_size=SIZE, channels=3, mode="stream",
                                  workers=workers), "train")  # fmt: skip
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[: batches * batch]
    for _ in data.batches(order.split(batch)):  # warm the page cache for both measurements
        pass
    start = time.perf_counter()
    for _ in data.batches(order.split(batch)):
        pass
    loader = len(order) / (time.perf_counter() - start)
    files = [str(data.dataset.files[i]) for i in order.tolist()]
    with Pool(workers) as pool:
        start = time.perf_counter()
        done = sum(pool.map(_decode_all, [files[k::workers] for k in range(workers)]))
        decode = done / (time.perf_counter() - start)
    return {"workers": workers, "loader_images_per_s": loader, "decode_only_images_per_s": decode,
            "ratio": loader / decode}  # fmt: skip


def plot(results: dict, path: Path) -> Path:
    """Peak RSS (the process tree) against the number of images, one line per mode."""
    from replab.core.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    labels = {"memory": "in memory (the former pipeline)", "online": "streaming, online encoding",
              "cached": "streaming, cached latents"}  # fmt: skip
    for mode, label in labels.items():
        rows = sorted((r["n"], r["tree_mib"] / 1024) for r in results["rows"] if r["mode"] == mode)
        if rows:
            ax.plot(*zip(*rows), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("256² JPEGs in the training folder")
    ax.set_ylabel("peak RSS of diffusion train (GiB)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000, 100000])
    parser.add_argument(
        "--memory-sizes",
        type=int,
        nargs="+",
        default=[10000, 20000],
        help="sizes for the in-memory pipeline (it needs ~0.4 MB of RAM per 256² image)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default: <root>/scale_memory.json)")
    args = parser.parse_args(argv)
    env = {**os.environ, "REPLAB_NO_PROGRESS": "1", "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    root = args.root
    folders = make_folders(root, sorted(set(args.sizes) | set(args.memory_sizes)))
    encoder = root / "dinov2"
    if not encoder.exists():
        import transformers

        transformers.Dinov2WithRegistersModel(transformers.Dinov2WithRegistersConfig(
            hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, image_size=56,
            patch_size=14, num_register_tokens=4)).save_pretrained(encoder)  # fmt: skip
    results: dict = {"image_size": SIZE, "rows": [], "throughput": None, "encode": []}
    for n, folder in sorted(folders.items()):
        rae = root / "runs" / f"rae-{n}"
        if not (rae / "latent_stats.safetensors").exists():
            subprocess.run(replab("rae", "train", "--out", str(rae), *RAE, f"data.path={folder}",
                                  f"encoder.weights={encoder}", "data.mode=stream"),
                           check=True, env=env, capture_output=True)  # fmt: skip
        modes = []
        if n in args.sizes:
            modes += ["online", "cached"]
        if n in args.memory_sizes:
            modes += ["memory"]
        for mode in modes:
            extra = []
            if mode == "cached":
                cache = rae / "latents" / "train-cache"
                timing = peak_rss(replab("rae", "encode", "--rae", str(rae), "--out", str(cache)), env)
                results["encode"].append({"n": n, **timing, "images_per_s": n / timing["wall_s"]})
                extra = [f"latents_cache={cache}"]
            if mode == "memory":  # today's pipeline: every image decoded into RAM, then every latent precomputed
                (rae / "latents" / "train.safetensors").unlink(missing_ok=True)
            out = root / "runs" / f"dit-{n}-{mode}"
            subprocess.run(["rm", "-rf", str(out)], check=True)
            command = replab("diffusion", "train", "--preset", "fmnist", "--rae", str(rae), "--out", str(out), *DIT,
                             f"latents={mode}", *extra)  # fmt: skip
            row = {"n": n, "mode": mode, **peak_rss(command, env)}
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
    results["throughput"] = loader_throughput(folders[min(args.sizes)])
    print(json.dumps(results["throughput"]), flush=True)
    out = args.out or root / "scale_memory.json"
    out.write_text(json.dumps(results, indent=1))
    plot(results, out.with_suffix(".png"))
    return results


if __name__ == "__main__":
    main()
