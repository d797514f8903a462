"""Against the official RAE code itself: set REPLAB_OFFICIAL_RAE to a checkout of github.com/bytetriper/RAE
(its own imports, einops and torchdiffeq, installed; timm is stood in for when absent). Skipped otherwise."""

import os
from pathlib import Path

import pytest

OFFICIAL = os.environ.get("REPLAB_OFFICIAL_RAE")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OFFICIAL, reason="REPLAB_OFFICIAL_RAE (an official RAE checkout) is not set"),
]


@pytest.fixture(scope="module")
def official():
    pytest.importorskip("einops")
    pytest.importorskip("torchdiffeq")
    from benchmarks import official_parity

    return official_parity, official_parity.official_modules(Path(OFFICIAL))


def test_dit_dh_s_and_lightningdit_agree_with_the_official_modules(official):
    op, (ddt, lightning, *_) = official
    dh = op.dit_parity(ddt, op.DH_S, dh=True)
    assert dh["max_abs_forward"] < 1e-5 and dh["max_abs_roundtrip"] < 1e-5
    assert dh["max_abs_cfg_t0.8"] < 4 * 1e-5  # CFG scale 4 multiplies the difference of two such outputs
    plain = {k: v for k, v in op.DH_S.items() if k not in ("hidden_size", "depth", "num_heads", "use_pos_embed")}
    lit = op.dit_parity(lightning, {**plain, "hidden_size": 384, "depth": 12, "num_heads": 6}, dh=False)
    assert lit["max_abs_forward"] < 1e-5 and lit["max_abs_roundtrip"] < 1e-5


def test_decoder_and_sampler_agree_with_the_official_code(official):
    op, (ddt, _, decoder, config, create_transport, sampler) = official
    dec = op.decoder_parity(decoder, config, Path(OFFICIAL), "B")
    assert dec["max_abs_logits"] < 1e-5 and dec["max_abs_pixels"] < 1e-5 and dec["strict"]
    trajectory = op.sampler_parity(ddt, create_transport, sampler, op.TINY)
    assert trajectory["max_abs_samples"] < 1e-5 and trajectory["ode_steps"] == 49
