import pytest
import torch
import yaml

from replab.core.checkpoint import load_checkpoint, save_checkpoint
from replab.core.run import Run
from replab.errors import CheckpointError


def _model(width=4):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.Linear(width, 2))


def test_checkpoint_roundtrip_restores_weights_optimizer_and_rng(tmp_path):
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(7)
    torch.rand(3, generator=gen)
    save_checkpoint(tmp_path / "ck", {"m": model}, {"m": opt}, {"g": gen}, {"step": 1, "data": {"pos": 5}})
    expected_next = torch.rand(3, generator=gen)

    model2 = _model()
    with torch.no_grad():
        for p in model2.parameters():
            p.zero_()
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    gen2 = torch.Generator().manual_seed(0)
    state = load_checkpoint(tmp_path / "ck", {"m": model2}, {"m": opt2}, {"g": gen2})
    assert state["step"] == 1 and state["data"] == {"pos": 5}
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(torch.rand(3, generator=gen2), expected_next)
    for a, b in zip(opt.state.values(), opt2.state.values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_checkpoint_of_another_size_is_refused_with_shapes(tmp_path):
    save_checkpoint(tmp_path / "ck", {"m": _model(4)})
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "ck", {"m": _model(8)})
    message = str(err.value)
    assert "m.0.weight" in message and "[4, 3]" in message and "[8, 3]" in message


def test_incomplete_checkpoint_is_ignored(tmp_path):
    run = Run(tmp_path / "run", {"a": 1}, kind="test", track_footprint=False)
    run.save(2, {"m": _model()})
    (run.folder / "checkpoints" / "step_00000004.tmp").mkdir()  # a save killed half-way
    (run.folder / "checkpoints" / "step_00000006").mkdir()  # no state.json: incomplete
    assert run.latest_checkpoint().name == "step_00000002"


def test_run_keeps_the_last_checkpoints(tmp_path):
    run = Run(tmp_path / "run", {"a": 1}, kind="test", keep_checkpoints=2, track_footprint=False)
    for step in (1, 2, 3):
        run.save(step, {"m": _model()})
    assert [p.name for p in run.checkpoints()] == ["step_00000002", "step_00000003"]


def test_run_refuses_another_config_and_touches_nothing(tmp_path):
    folder = tmp_path / "run"
    run = Run(folder, {"model": {"size": "tiny"}, "train": {"steps": 5}}, kind="test", track_footprint=False)
    run.log(1, loss=1.0)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError) as err:
        Run(folder, {"model": {"size": "B"}, "train": {"steps": 5}}, kind="test", track_footprint=False)
    assert "model.size" in str(err.value) and "'tiny'" in str(err.value) and "'B'" in str(err.value)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    # a declared-mutable key may change on resume
    Run(
        folder,
        {"model": {"size": "tiny"}, "train": {"steps": 9}},
        kind="test",
        mutable=["train.steps"],
        track_footprint=False,
    )
    assert yaml.safe_load((folder / "config.yaml").read_text())["train"]["steps"] == 9


def test_run_writes_footprint(tmp_path):
    with Run(tmp_path / "run", {"a": 1}, kind="test") as run:
        with run.phase("train"):
            sum(i for i in range(100000))
            run.add_units("steps", 10)
    import json

    footprint = json.loads((tmp_path / "run" / "footprint.json").read_text())
    assert footprint["units"] == {"steps": 10} and footprint["phases"]["train"]["units"] == {"steps": 10}


def test_setting_added_after_a_run_reads_as_its_default(tmp_path):
    folder = tmp_path / "run"
    Run(folder, {"model": {"size": "tiny"}}, kind="test", track_footprint=False)
    defaults = {"model": {"size": "S", "qk_norm": True}}
    Run(folder, {"model": {"size": "tiny", "qk_norm": True}}, kind="test", track_footprint=False, defaults=defaults)
    with pytest.raises(CheckpointError, match="model.qk_norm: True in the run, False now"):
        Run(
            folder, {"model": {"size": "tiny", "qk_norm": False}}, kind="test", track_footprint=False, defaults=defaults
        )


def test_mutable_sections_and_one_shot_runs(tmp_path):
    folder = tmp_path / "eval"
    Run(folder, {"n": 10, "cfg_scale": 1.5}, kind="test", track_footprint=False)
    with pytest.raises(CheckpointError, match="cfg_scale"):  # a setting removed since is still a difference
        Run(folder, {"n": 10, "guidance": {"cfg_scale": 5.0}}, kind="test", mutable=["guidance"], track_footprint=False)
    # an evaluation is one-shot: '*' lets any setting change, added or removed
    Run(folder, {"n": 20, "guidance": {"cfg_scale": 5.0}}, kind="test", mutable=["*"], track_footprint=False)
    Run(folder, {"n": 20, "guidance": {"cfg_scale": 2.0}}, kind="test", mutable=["guidance"], track_footprint=False)
    assert yaml.safe_load((folder / "config.yaml").read_text())["guidance"] == {"cfg_scale": 2.0}
