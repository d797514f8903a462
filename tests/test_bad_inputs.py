"""Every CLI verb with its bad inputs: exit 2, one line on stderr naming the culprit, no traceback, no file
changed and no folder left behind. The count of cases is recorded in benchmarks/RESULTS.md."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from replab import ASSETS
from replab.cli import build_parser, main

SHIPPED_DIT = ASSETS / "runs" / "dit-dh-fmnist"
SHIPPED_RAE = ASSETS / "runs" / "rae-fmnist"
PROBE = ASSETS / "probes" / "tone"


def _fake_run(folder: Path, kind: str, **config) -> Path:
    """A run folder as a Run leaves it (config.yaml beside checkpoints/ and artifacts/), of ``kind``."""
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "artifacts").mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"kind": kind, **config}))
    (folder / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    return folder


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The inputs the cases name: runs of several kinds, files of the wrong shape, an image folder."""
    root = tmp_path_factory.mktemp("bad-inputs")
    shutil.copytree(SHIPPED_DIT, root / "mydit")  # a trained diffusion run, copied into the user's folders
    shutil.copytree(SHIPPED_RAE, root / "rae-fmnist")  # with the RAE run it names (../rae-fmnist)
    _fake_run(root / "audit1", "fairness-audit", run="x", target="uniform")
    _fake_run(root / "rae1", "rae", data={"name": "fmnist"})
    (root / "empty.json").write_text("[]")
    (root / "empty.jsonl").write_text("")
    (root / "notes.txt").write_text("not a model, not a run\n")
    (root / "broken.json").write_text('[{"task_id": "x"')
    (root / "nomodel").mkdir()
    (root / "userfiles").mkdir()
    (root / "userfiles" / "thesis.tex").write_text("keep me\n")
    (root / "tasks-empty.yaml").write_text("[]\n")
    imgs = root / "imgs" / "0"
    imgs.mkdir(parents=True)
    for k in range(4):
        Image.fromarray(np.full((28, 28), 40 * k, np.uint8)).save(imgs / f"{k}.png")
    (root / "imgs-broken" / "0").mkdir(parents=True)
    (root / "imgs-broken" / "0" / "broken.png").write_bytes(b"not a png")
    task = {"task_id": "qiskitHumanEval/0", "prompt": "def f():\n", "canonical_solution": "    return 1\n",
            "test": "def check(candidate):\n    assert candidate() == 1\n", "entry_point": "f",
            "difficulty_scale": "basic"}  # fmt: skip
    (root / "humaneval.json").write_text(json.dumps([task]))
    item = {"id": "1", "dimension": "idiom", "source": "画蛇添足", "candidates": {"sys": "gild the lily"}}
    (root / "items.jsonl").write_text(json.dumps(item, ensure_ascii=False) + "\n")
    return root


# (case id, argv with {ws} for the workspace, a word the one line must contain)
CASES = [
    # rae
    ("rae train: unknown decoder size", "rae train --preset fmnist --out {ws}/x2 decoder.size=Q", "Q"),
    ("rae train: unknown key", "rae train --out {ws}/x3 decoder.nosuch=1", "decoder.nosuch"),
    ("rae train: unknown preset", "rae train --preset nosuch --out {ws}/x4", "nosuch"),
    ("rae train: --out is a file", "rae train --out {ws}/notes.txt", "notes.txt"),
    ("rae train: --out holds a diffusion run", "rae train --out {ws}/mydit", "diffusion"),
    ("rae train: --out inside a run", "rae train --out {ws}/audit1/artifacts", "inside the run"),
    ("rae train: --out holds other files", "rae train --out {ws}/userfiles", "userfiles"),
    ("rae pretrain-encoder: --out holds a run", "rae pretrain-encoder --out {ws}/rae1", "rae"),
    ("rae reconstruct: no such run", "rae reconstruct --run {ws}/nosuch", "nosuch"),
    ("rae reconstruct: --n 0", "rae reconstruct --run {ws}/rae1 --n 0", "--n"),
    ("rae reconstruct: a diffusion run", "rae reconstruct --run {ws}/mydit", "mydit"),
    ("rae encode: no such run", "rae encode --rae {ws}/nosuch", "nosuch"),
    ("rae encode: --shard-size 0", "rae encode --rae {ws}/rae1 --shard-size 0", "--shard-size"),
    ("rae import-official: no decoder", "rae import-official --out {ws}/imp", "--decoder"),
    (
        "rae import-official: missing file",
        "rae import-official --decoder {ws}/no.pt --decoder-config {ws}/no.json --stats {ws}/no-stat.pt --out {ws}/imp",
        "no.json",
    ),
    # diffusion
    ("diffusion train: no such RAE run", "diffusion train --rae {ws}/nosuch --out {ws}/d1", "nosuch"),
    (
        "diffusion train: --out holds an audit",
        "diffusion train --rae {ws}/rae-fmnist --out {ws}/audit1",
        "fairness-audit",
    ),
    ("diffusion train: bad value", "diffusion train --out {ws}/d2 train.steps=many", "train.steps"),
    ("diffusion sample: --n -3", "diffusion sample --run {ws}/mydit --n -3 --out {ws}/g.png", "--n"),
    ("diffusion sample: --n 0", "diffusion sample --run {ws}/mydit --n 0 --out {ws}/g.png", "--n"),
    ("diffusion sample: --cfg -1", "diffusion sample --run {ws}/mydit --cfg -1 --out {ws}/g.png", "--cfg"),
    ("diffusion sample: --steps 0", "diffusion sample --run {ws}/mydit --steps 0 --out {ws}/g.png", "--steps"),
    (
        "diffusion sample: --cfg-interval",
        "diffusion sample --run {ws}/mydit --cfg-interval 1,0 --out {ws}/g.png",
        "--cfg-interval",
    ),
    ("diffusion sample: no such run", "diffusion sample --run {ws}/nosuch --out {ws}/g.png", "nosuch"),
    ("diffusion sample: not a diffusion run", "diffusion sample --run {ws}/audit1 --out {ws}/g.png", "audit1"),
    ("diffusion sample: --out is a folder", "diffusion sample --run {ws}/mydit --out {ws}/userfiles", "userfiles"),
    (
        "diffusion import-official: missing",
        "diffusion import-official --ckpt {ws}/no.pt --config {ws}/no.yaml --rae {ws}/rae1 --out {ws}/imp",
        "no",
    ),
    # eval
    ("eval fd: --n 1", "eval fd --run {ws}/mydit --n 1", "--n"),
    ("eval fd: no such run", "eval fd --run {ws}/nosuch", "nosuch"),
    ("eval fd: unknown features", "eval fd --run {ws}/mydit --features inceptionv9", "--features"),
    ("eval fd: --out holds another kind", "eval fd --run {ws}/mydit --n 10 --out {ws}/audit1", "fairness-audit"),
    ("eval train-features: --out holds a run", "eval train-features --out {ws}/mydit", "diffusion"),
    # judge (DITING)
    (
        "judge translate: no such data",
        "judge translate --data {ws}/no.jsonl --backend openai:m --out {ws}/j1",
        "no.jsonl",
    ),
    (
        "judge translate: empty data",
        "judge translate --data {ws}/empty.jsonl --backend openai:m --out {ws}/j1",
        "empty.jsonl",
    ),
    ("judge translate: unknown backend", "judge translate --data {ws}/items.jsonl --backend gpt --out {ws}/j1", "gpt"),
    (
        "judge translate: --concurrency 0",
        "judge translate --data {ws}/items.jsonl --backend openai:m --out {ws}/j1 --concurrency 0",
        "--concurrency",
    ),
    (
        "judge translate: --out is a file",
        "judge translate --data {ws}/items.jsonl --backend openai:m --out {ws}/notes.txt",
        "notes.txt",
    ),
    (
        "judge translate: --request-timeout 0",
        "judge translate --data {ws}/items.jsonl --backend openai:m --out {ws}/j1 --request-timeout 0",
        "--request-timeout",
    ),
    ("judge score: neither --run nor --data", "judge score --metrics bleu", "--run"),
    (
        "judge score: --out holds a diffusion run",
        "judge score --data {ws}/items.jsonl --out {ws}/mydit --metrics bleu",
        "diffusion",
    ),
    (
        "judge score: --out is a file",
        "judge score --data {ws}/items.jsonl --out {ws}/notes.txt --metrics bleu",
        "notes.txt",
    ),
    (
        "judge score: --out holds other files",
        "judge score --data {ws}/items.jsonl --out {ws}/userfiles --metrics bleu",
        "userfiles",
    ),
    ("judge score: unknown metric", "judge score --data {ws}/empty.json --out {ws}/j2 --metrics bleux", "bleux"),
    ("judge score: not a judge run", "judge score --run {ws}/mydit --metrics bleu", "mydit"),
    ("judge meta: no such run", "judge meta --run {ws}/nosuch", "nosuch"),
    # judge (quantum)
    (
        "judge run: --data with --task quantum",
        "judge run --task quantum --data {ws}/x --backend openai:m --out {ws}/q1",
        "--data",
    ),
    (
        "judge run: qiskit-humaneval without --data",
        "judge run --task qiskit-humaneval --backend openai:m --out {ws}/q1",
        "--data",
    ),
    (
        "judge run: qiskit-humaneval empty",
        "judge run --task qiskit-humaneval --data {ws}/empty.json --backend openai:m --out {ws}/q1",
        "empty.json",
    ),
    ("judge run: --samples 0", "judge run --task quantum --backend openai:m --out {ws}/q1 --samples 0", "--samples"),
    (
        "judge run: quantum tasks empty",
        "judge run --task quantum --tasks {ws}/tasks-empty.yaml --backend openai:m --out {ws}/q1",
        "tasks-empty.yaml",
    ),
    (
        "judge run: --out holds a diffusion run",
        "judge run --task quantum --backend openai:m --out {ws}/mydit",
        "diffusion",
    ),
    ("judge quantum revalidate: no file", "judge quantum revalidate --tasks {ws}/no.yaml", "no.yaml"),
    (
        "judge quantum humaneval: --out folder",
        "judge quantum humaneval --data {ws}/humaneval.json --out {ws}/userfiles",
        "userfiles",
    ),
    (
        "judge quantum humaneval: --timeout -5",
        "judge quantum humaneval --data {ws}/empty.json --timeout -5",
        "--timeout",
    ),
    ("judge quantum humaneval: empty", "judge quantum humaneval --data {ws}/empty.json", "empty.json"),
    ("judge quantum humaneval: malformed", "judge quantum humaneval --data {ws}/broken.json", "broken.json"),
    # embed
    ("embed eval: no such model", "embed eval --model ./nosuchmodel", "nosuchmodel"),
    ("embed eval: a folder without a model", "embed eval --model {ws}/nomodel", "nomodel"),
    ("embed eval: an id not cached offline", "embed eval --model someorg/somemodel", "offline"),
    ("embed eval: --held-out 0", "embed eval --model smollm2 --held-out 0", "--held-out"),
    ("embed anisotropy: no such model", "embed anisotropy --model ./nosuchmodel", "nosuchmodel"),
    ("embed anisotropy: --n 1", "embed anisotropy --model smollm2 --n 1", "--n"),
    ("embed train: unknown key", "embed train --out {ws}/e1 lora.nosuch=3", "lora.nosuch"),
    ("embed train: --out holds a run", "embed train --out {ws}/mydit", "diffusion"),
    ("embed grsl: unknown key", "embed grsl --out {ws}/g1 nosuch=1", "nosuch"),
    # footprint, data
    ("footprint report: no such folder", "footprint report {ws}/nosuch", "nosuch"),
    ("footprint compare: no such run", "footprint compare {ws}/nosuch {ws}/mydit", "nosuch"),
    ("data skew: unknown preset", "data skew --preset nosuch --out {ws}/s1", "--preset"),
    ("data shards: no such source", "data shards --src {ws}/nosuch --out {ws}/sh", "nosuch"),
    ("data shards: --per-shard 0", "data shards --src {ws}/imgs --out {ws}/sh --per-shard 0", "--per-shard"),
    # fairness
    ("fairness audit: --images with --n", "fairness audit --images {ws}/imgs --probe {ws}/nosuch --n 0", "--n"),
    (
        "fairness audit: --images with --n 5",
        "fairness audit --images {ws}/imgs --probe " + str(PROBE) + " --n 5",
        "--n",
    ),
    (
        "fairness audit: --out holds a diffusion run",
        "fairness audit --images {ws}/imgs --probe " + str(PROBE) + " --out {ws}/mydit",
        "diffusion",
    ),
    (
        "fairness audit: another audit's config",
        "fairness audit --images {ws}/imgs --probe " + str(PROBE) + " --out {ws}/audit1 --target uniform",
        "audit1",
    ),
    (
        "fairness audit: --out inside a run",
        "fairness audit --images {ws}/imgs --probe " + str(PROBE) + " --out {ws}/audit1/artifacts",
        "inside the run",
    ),
    ("fairness audit: no such probe", "fairness audit --run {ws}/mydit --probe {ws}/nosuch", "nosuch"),
    (
        "fairness audit: --guide-window",
        "fairness audit --run {ws}/mydit --probe " + str(PROBE) + " --guide-window 2,1",
        "--guide-window",
    ),
    ("fairness probe: no such RAE run", "fairness probe --rae {ws}/nosuch --out {ws}/p1", "nosuch"),
    ("fairness probe: no such data", "fairness probe --rae {ws}/rae-fmnist --data {ws}/nosuch --out {ws}/p1", "nosuch"),
    (
        "fairness tradeoff: no such run",
        "fairness tradeoff --run {ws}/nosuch --probe " + str(PROBE) + " --out {ws}/t1",
        "nosuch",
    ),
    (
        "fairness tradeoff: --n 0",
        "fairness tradeoff --run {ws}/mydit --probe " + str(PROBE) + " --out {ws}/t1 --n 0",
        "--n",
    ),
    ("fairness audit: a broken image", "fairness audit --images {ws}/imgs-broken --probe " + str(PROBE), "broken.png"),
    # demo
    ("demo: --out is a file", "demo --out {ws}/notes.txt", "notes.txt"),
]


def _state(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else ("dir",)
            for p in root.rglob("*")}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_touches_nothing(case, ws, monkeypatch, capsys):
    _, argv, culprit = case
    monkeypatch.chdir(ws)  # a default output (./runs/...) would land here, and be seen
    monkeypatch.setenv("REPLAB_CACHE", str(ws / "cache"))
    before = _state(ws)
    try:
        code = main(argv.format(ws=ws).split())
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert culprit in lines[0], lines[0]
    assert _state(ws) == before, "a file changed or a folder was left behind"


def test_every_verb_has_a_bad_input_case():
    verbs = set()
    for system, action in build_parser()._subparsers._group_actions[0].choices.items():
        sub = [a for a in action._actions if a.dest == "verb"]
        names = sub[0].choices if sub else {"": None}
        for verb, parser in names.items():
            quantum = [a for a in parser._actions if a.dest == "quantum_verb"] if parser else []
            for inner in quantum[0].choices if quantum else [""]:
                verbs.add(" ".join(w for w in (system, verb, inner) if w))
    covered = {" ".join(c[1].split()[: len(v.split())]) for c in CASES for v in verbs}
    assert not verbs - covered, sorted(verbs - covered)
    assert len(CASES) >= 60


def test_the_ledger_and_config_of_a_refused_train_are_not_written(ws, tmp_path, monkeypatch):
    """The reproduction: a size the decoder does not have leaves no run, so the corrected command can start."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPLAB_LEDGER", str(tmp_path / "emissions.csv"))
    assert main(["rae", "train", "--preset", "fmnist", "--out", str(tmp_path / "x2"), "decoder.size=Q"]) == 2
    assert not (tmp_path / "x2").exists() and not (tmp_path / "emissions.csv").exists()
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == "[]"
