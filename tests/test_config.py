from dataclasses import dataclass, field

import pytest

from replab.core.config import apply_overrides, from_dict, list_presets, load_config
from replab.errors import ConfigError
from replab.rae.model import RAEConfig


@dataclass
class Inner:
    steps: int = 1
    lr: float = 0.1
    name: str | None = None
    betas: tuple[float, float] = (0.9, 0.95)


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    flag: bool = False


def test_overrides_are_typed_and_nested():
    config = apply_overrides(Outer(), ["inner.steps=5", "inner.lr=3e-4", "flag=true", "inner.betas=[0.5,0.6]"])
    assert config.inner.steps == 5 and config.inner.lr == 3e-4 and config.flag is True
    assert config.inner.betas == (0.5, 0.6)


def test_unknown_override_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        apply_overrides(Outer(), ["inner.stepz=5"])
    assert "inner.stepz" in str(err.value) and "inner.steps" in str(err.value) and "inner.lr" in str(err.value)


def test_wrong_type_names_the_field():
    with pytest.raises(ConfigError, match="inner.steps.*integer"):
        apply_overrides(Outer(), ["inner.steps=abc"])


def test_unknown_key_in_a_preset_file_names_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  stepps: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(RAEConfig, "rae", str(path))
    assert str(path) in str(err.value) and "stepps" in str(err.value) and "steps" in str(err.value)


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        load_config(RAEConfig, "rae", "no-such-preset")
    assert "fmnist" in str(err.value)


def test_every_shipped_rae_preset_loads():
    for name in list_presets("rae"):
        load_config(RAEConfig, "rae", name)


def test_from_dict_rejects_a_non_mapping():
    with pytest.raises(ConfigError):
        from_dict(Outer, {"inner": 3})
