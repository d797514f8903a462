"""The encoder registry on tiny, randomly initialised hub configs built locally (no download)."""

import pytest
import torch
import transformers
from torch import nn

from replab.errors import ConfigError
from replab.rae.encoders import EncoderConfig, build_encoder


def _save(model, tmp_path, name):
    folder = tmp_path / name
    model.save_pretrained(folder)
    return str(folder)


def _affine_free_final_norm(encoder):
    norms = [m for m in encoder.model.modules() if isinstance(m, nn.LayerNorm)]
    return norms[-1].weight is None and norms[-1].bias is None


@pytest.fixture
def dinov2(tmp_path):
    config = transformers.Dinov2WithRegistersConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=28, patch_size=14, num_register_tokens=4,
    )  # fmt: skip
    return _save(transformers.Dinov2WithRegistersModel(config), tmp_path, "dinov2")


def test_dinov2_drops_cls_and_registers(dinov2):
    encoder = build_encoder(EncoderConfig(name="dinov2", weights=dinov2))
    tokens = encoder(torch.rand(2, 1, 20, 20))  # grayscale, wrong size: resized and repeated to RGB
    assert tokens.shape == (2, 32, 2, 2)
    assert _affine_free_final_norm(encoder)
    assert not any(p.requires_grad for p in encoder.parameters())
    # the affine-free final norm makes every token zero-mean, unit-variance over channels
    assert torch.allclose(tokens.mean(1), torch.zeros(2, 2, 2), atol=1e-5)


def test_siglip2_has_no_cls_to_drop(tmp_path):
    config = transformers.SiglipVisionConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=16,
    )  # fmt: skip
    encoder = build_encoder(
        EncoderConfig(name="siglip2", weights=_save(transformers.SiglipVisionModel(config), tmp_path, "s"))
    )
    assert encoder(torch.rand(3, 3, 32, 32)).shape == (3, 32, 2, 2)
    assert _affine_free_final_norm(encoder)


def test_mae_keeps_every_patch_in_order(tmp_path):
    config = transformers.ViTMAEConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8,
    )  # fmt: skip
    encoder = build_encoder(EncoderConfig(name="mae", weights=_save(transformers.ViTMAEModel(config), tmp_path, "m")))
    images = torch.rand(2, 3, 32, 32)
    tokens = encoder(images)
    assert tokens.shape == (2, 32, 4, 4)
    # patch order is kept: changing only the top-left patch changes the top-left token most
    edited = images.clone()
    edited[:, :, :8, :8] = 1 - edited[:, :, :8, :8]
    change = (encoder(edited) - tokens).abs().sum(1)[0]
    assert change.argmax().item() == 0


def test_local_vit_tokens(tiny_local_vit):
    encoder = build_encoder(EncoderConfig(name="local-vit", weights=str(tiny_local_vit)))
    assert encoder(torch.rand(4, 1, 28, 28)).shape == (4, 32, 7, 7)
    assert len(encoder.features(torch.rand(1, 1, 28, 28))) == 3  # two blocks + final tokens


def test_shipped_local_vit_is_small_and_loads():
    from replab.rae.encoders import LOCAL_VIT_DEFAULT

    size = sum(p.stat().st_size for p in LOCAL_VIT_DEFAULT.iterdir())
    assert size < 5 * 2**20
    encoder = build_encoder(EncoderConfig())
    assert encoder(torch.rand(2, 1, 28, 28)).shape == (2, encoder.channels, 7, 7)


def test_unknown_encoder_lists_valid_ones():
    with pytest.raises(ConfigError, match="dinov2.*siglip2.*mae|local-vit"):
        build_encoder(EncoderConfig(name="clip"))


def test_unreachable_hub_weights_give_an_offline_hint(tmp_path):
    with pytest.raises(ConfigError, match="offline|local folder"):
        build_encoder(EncoderConfig(name="dinov2", weights=str(tmp_path / "nothing-here")))
