"""Shared tiny configs for the RAE tests."""

TINY_RAE = [
    "data.limit=96", "decoder.size=tiny", "stats_images=64", "train.batch_size=16", "train.warmup_steps=2",
    "train.log_every=2", "train.threads=1", "loss.disc_start=2", "loss.gan_start=3", "loss.disc_width=16",
]  # fmt: skip
