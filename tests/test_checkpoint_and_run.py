import pytest
import torch
import yaml

from replab.core.checkpoint import load_checkpoint, save_checkpoint
from replab.core.run import Run
from replab.errors import CheckpointError, ConfigError


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
    with Run(folder, {"model": {"size": "tiny"}, "train": {"steps": 5}}, kind="test", track_footprint=False) as run:
        run.log(1, loss=1.0)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}  # the Run is closed: nothing in flight
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
    with Run(folder, {"n": 10, "cfg_scale": 1.5}, kind="test", track_footprint=False) as run:
        run.log(0, fd=1.0)
    with pytest.raises(CheckpointError, match="cfg_scale"):  # a setting removed since is still a difference
        Run(folder, {"n": 10, "guidance": {"cfg_scale": 5.0}}, kind="test", mutable=["guidance"], track_footprint=False)
    # a one-shot evaluation rerun with other settings would mix two runs' metrics: refused, no wildcard
    with pytest.raises(CheckpointError, match="n: 10 in the run, 20 now"):
        Run(folder, {"n": 20, "cfg_scale": 1.5}, kind="test", mutable=["*"], track_footprint=False)
    with Run(folder, {"n": 10, "cfg_scale": 2.0}, kind="test", mutable=["cfg_scale"], track_footprint=False):
        pass
    assert yaml.safe_load((folder / "config.yaml").read_text())["cfg_scale"] == 2.0


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def test_a_run_of_another_kind_is_refused_and_untouched(tmp_path):
    folder = tmp_path / "mydit"
    with Run(folder, {"model": "S"}, kind="diffusion", track_footprint=False) as run:
        run.log(1, loss=0.5)
    before = _tree(folder)
    for config in ({"model": "S"}, {"target": "uniform"}):  # whatever the config, the kind decides first
        with pytest.raises(CheckpointError, match="holds a 'diffusion' run, not a 'fairness-audit' run"):
            Run(folder, config, kind="fairness-audit", track_footprint=False)
    assert _tree(folder) == before


def test_out_inside_another_run_is_refused_except_where_runs_on_it_belong(tmp_path):
    with Run(tmp_path / "a1", {"x": 1}, kind="audit", track_footprint=False):
        pass
    for inside in (tmp_path / "a1" / "artifacts", tmp_path / "a1" / "checkpoints" / "deeper", tmp_path / "a1" / "b"):
        with pytest.raises(ConfigError, match="lies inside the run"):
            Run(inside, {"x": 2}, kind="audit", track_footprint=False)
        assert not inside.exists() or not any(inside.iterdir())
    for place in ("evals/fd", "scores/bleu", "meta"):  # the run's own evaluations, scores, meta-evaluation
        with Run(tmp_path / "a1" / place, {"n": 5}, kind="eval", track_footprint=False):
            pass
    with Run(tmp_path / "sweep", {"points": 2}, kind="tradeoff", track_footprint=False):
        with Run(tmp_path / "sweep" / "cfg-1", {"cfg": 1}, kind="audit", track_footprint=False):
            pass  # a job's sub-runs, made while it is open
    with pytest.raises(ConfigError, match="lies inside the run"):  # once it is closed, its folder is its own
        Run(tmp_path / "sweep" / "cfg-2", {"cfg": 2}, kind="audit", track_footprint=False)


def test_a_file_or_a_folder_of_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep")
    with pytest.raises(ConfigError, match="is a file"):
        Run(tmp_path / "notes.txt", {}, kind="test", track_footprint=False)
    with pytest.raises(ConfigError, match="a part of this path is a file"):
        Run(tmp_path / "notes.txt" / "run", {}, kind="test", track_footprint=False)
    with pytest.raises(ConfigError, match="holds files but no replab run"):
        Run(tmp_path / "mine", {}, kind="test", track_footprint=False)
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["thesis.tex"]


def test_a_job_that_fails_before_producing_anything_leaves_no_trace(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLAB_LEDGER", str(tmp_path / "ledger.csv"))
    folder = tmp_path / "new" / "x2"
    with pytest.raises(ConfigError, match="unknown size"):
        with Run(folder, {"size": "Q"}, kind="rae"):  # footprint on: its ledger row must not be written either
            raise ConfigError("unknown size 'Q'")
    assert not (tmp_path / "new").exists() and not (tmp_path / "ledger.csv").exists()
    with Run(folder, {"size": "S"}, kind="rae") as run:  # so the corrected command starts cleanly
        run.log(1, loss=1.0)
    # a resume that fails before producing anything puts the run's config back, and keeps its results
    before = _tree(folder)
    with pytest.raises(RuntimeError):
        with Run(folder, {"size": "S", "steps": 9}, kind="rae", mutable=["steps"], track_footprint=False):
            raise RuntimeError("out of memory")
    assert _tree(folder) == before
    # an empty folder given as --out is empty again
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError):
        with Run(tmp_path / "empty", {}, kind="rae", track_footprint=False):
            raise RuntimeError("boom")
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_job_that_fails_after_producing_results_keeps_them(tmp_path):
    folder = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with Run(folder, {"n": 3}, kind="judge", track_footprint=False) as run:
            run.log(1, item=1)
            raise RuntimeError("server gone")
    assert (folder / "metrics.jsonl").exists() and (folder / "config.yaml").exists()


def test_event_files_are_complete_when_log_returns(tmp_path):
    pytest.importorskip("tensorboard")
    run = Run(tmp_path / "run", {"a": 1}, kind="test", track_footprint=False)
    run.log(1, loss=1.0)
    events = list((tmp_path / "run").glob("events.out.tfevents.*"))
    sizes = [p.stat().st_size for p in events]
    assert events and all(sizes)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = EventAccumulator(str(tmp_path / "run")).Reload()
    assert [e.value for e in found.Scalars("loss")] == [1.0]  # readable before the Run is closed
    run.close()
