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
    (root / "bad.jsonl").write_text('{"text": \n')
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


# per verb: (what is wrong, the arguments with {ws} for the workspace and {probe} for a real probe, a word
# the one line must contain)
BAD = {
    "rae train": [
        ("unknown decoder size", "--preset fmnist --out {ws}/x2 decoder.size=Q", "Q"),
        ("unknown key", "--out {ws}/x3 decoder.nosuch=1", "decoder.nosuch"),
        ("unknown preset", "--preset nosuch --out {ws}/x4", "nosuch"),
        ("--out is a file", "--out {ws}/notes.txt", "notes.txt"),
        ("--out holds a diffusion run", "--out {ws}/mydit", "diffusion"),
        ("--out inside a run", "--out {ws}/audit1/artifacts", "inside the run"),
        ("--out holds other files", "--out {ws}/userfiles", "userfiles"),
    ],
    "rae pretrain-encoder": [
        ("--out holds a run", "--out {ws}/rae1", "rae"),
    ],
    "rae reconstruct": [
        ("no such run", "--run {ws}/nosuch", "nosuch"),
        ("--n 0", "--run {ws}/rae1 --n 0", "--n"),
        ("a diffusion run", "--run {ws}/mydit", "mydit"),
    ],
    "rae encode": [
        ("no such run", "--rae {ws}/nosuch", "nosuch"),
        ("--shard-size 0", "--rae {ws}/rae1 --shard-size 0", "--shard-size"),
    ],
    "rae import-official": [
        ("no decoder", "--out {ws}/imp", "--decoder"),
        (
            "missing file",
            "--decoder {ws}/no.pt --decoder-config {ws}/no.json --stats {ws}/no-stat.pt --out {ws}/imp",
            "no.json",
        ),
    ],
    "diffusion train": [
        ("no such RAE run", "--rae {ws}/nosuch --out {ws}/d1", "nosuch"),
        ("--out holds an audit", "--rae {ws}/rae-fmnist --out {ws}/audit1", "fairness-audit"),
        ("bad value", "--out {ws}/d2 train.steps=many", "train.steps"),
    ],
    "diffusion sample": [
        ("--n -3", "--run {ws}/mydit --n -3 --out {ws}/g.png", "--n"),
        ("--n 0", "--run {ws}/mydit --n 0 --out {ws}/g.png", "--n"),
        ("--cfg -1", "--run {ws}/mydit --cfg -1 --out {ws}/g.png", "--cfg"),
        ("--steps 0", "--run {ws}/mydit --steps 0 --out {ws}/g.png", "--steps"),
        ("--cfg-interval", "--run {ws}/mydit --cfg-interval 1,0 --out {ws}/g.png", "--cfg-interval"),
        ("no such run", "--run {ws}/nosuch --out {ws}/g.png", "nosuch"),
        ("not a diffusion run", "--run {ws}/audit1 --out {ws}/g.png", "audit1"),
        ("--out is a folder", "--run {ws}/mydit --out {ws}/userfiles", "userfiles"),
    ],
    "diffusion import-official": [
        ("missing", "--ckpt {ws}/no.pt --config {ws}/no.yaml --rae {ws}/rae1 --out {ws}/imp", "no"),
    ],
    "eval fd": [
        ("--n 1", "--run {ws}/mydit --n 1", "--n"),
        ("no such run", "--run {ws}/nosuch", "nosuch"),
        ("unknown features", "--run {ws}/mydit --features inceptionv9", "--features"),
        ("--out holds another kind", "--run {ws}/mydit --n 10 --out {ws}/audit1", "fairness-audit"),
    ],
    "eval train-features": [
        ("--out holds a run", "--out {ws}/mydit", "diffusion"),
    ],
    "diting translate": [
        ("no such data", "--data {ws}/no.jsonl --backend openai:m --out {ws}/j1", "no.jsonl"),
        ("empty data", "--data {ws}/empty.jsonl --backend openai:m --out {ws}/j1", "empty.jsonl"),
        ("unknown backend", "--data {ws}/items.jsonl --backend gpt --out {ws}/j1", "gpt"),
        (
            "--concurrency 0",
            "--data {ws}/items.jsonl --backend openai:m --out {ws}/j1 --concurrency 0",
            "--concurrency",
        ),
        ("--out is a file", "--data {ws}/items.jsonl --backend openai:m --out {ws}/notes.txt", "notes.txt"),
        (
            "--request-timeout 0",
            "--data {ws}/items.jsonl --backend openai:m --out {ws}/j1 --request-timeout 0",
            "--request-timeout",
        ),
    ],
    "diting score": [
        ("neither --run nor --data", "--metrics bleu", "--run"),
        ("--out holds a diffusion run", "--data {ws}/items.jsonl --out {ws}/mydit --metrics bleu", "diffusion"),
        ("--out is a file", "--data {ws}/items.jsonl --out {ws}/notes.txt --metrics bleu", "notes.txt"),
        ("--out holds other files", "--data {ws}/items.jsonl --out {ws}/userfiles --metrics bleu", "userfiles"),
        ("unknown metric", "--data {ws}/empty.json --out {ws}/j2 --metrics bleux", "bleux"),
        ("not a judge run", "--run {ws}/mydit --metrics bleu", "mydit"),
    ],
    "diting meta": [
        ("no such run", "--run {ws}/nosuch", "nosuch"),
    ],
    "quantum run": [
        ("--data with --task quantum", "--task quantum --data {ws}/x --backend openai:m --out {ws}/q1", "--data"),
        ("qiskit-humaneval without --data", "--task qiskit-humaneval --backend openai:m --out {ws}/q1", "--data"),
        (
            "qiskit-humaneval empty",
            "--task qiskit-humaneval --data {ws}/empty.json --backend openai:m --out {ws}/q1",
            "empty.json",
        ),
        ("--samples 0", "--task quantum --backend openai:m --out {ws}/q1 --samples 0", "--samples"),
        (
            "quantum tasks empty",
            "--task quantum --tasks {ws}/tasks-empty.yaml --backend openai:m --out {ws}/q1",
            "tasks-empty.yaml",
        ),
        ("--out holds a diffusion run", "--task quantum --backend openai:m --out {ws}/mydit", "diffusion"),
    ],
    "quantum revalidate": [
        ("no file", "--tasks {ws}/no.yaml", "no.yaml"),
    ],
    "quantum humaneval": [
        ("--out folder", "--data {ws}/humaneval.json --out {ws}/userfiles", "userfiles"),
        ("--timeout -5", "--data {ws}/empty.json --timeout -5", "--timeout"),
        ("empty", "--data {ws}/empty.json", "empty.json"),
        ("malformed", "--data {ws}/broken.json", "broken.json"),
    ],
    "embed eval": [
        ("no such model", "--model ./nosuchmodel", "nosuchmodel"),
        ("a folder without a model", "--model {ws}/nomodel", "nomodel"),
        ("an id not cached offline", "--model someorg/somemodel", "offline"),
        ("--held-out 0", "--model smollm2 --held-out 0", "--held-out"),
        ("no such --pairs", "--model smollm2 --pairs {ws}/nosuch.jsonl", "nosuch.jsonl"),
        ("--pairs malformed", "--model smollm2 --pairs {ws}/broken.json", "broken.json:1"),
        ("--images without class folders", "--model smollm2 --images {ws}/nomodel", "nomodel"),
    ],
    "embed anisotropy": [
        ("no such model", "--model ./nosuchmodel", "nosuchmodel"),
        ("--n 1", "--model smollm2 --n 1", "--n"),
        ("--modality image without --inputs", "--model smollm2 --modality image", "--inputs"),
        ("--modality sound", "--model smollm2 --modality sound", "--modality"),
    ],
    "embed pretrain-vlm": [
        ("unknown key", "--out {ws}/v1 nosuch=1", "nosuch"),
        ("--out holds a run", "--out {ws}/mydit", "diffusion"),
    ],
    "embed omni-claim": [
        ("unknown key", "--out {ws}/o1 nosuch=1", "nosuch"),
        ("no such vlm", "--out {ws}/o1 vlm={ws}/nosuch", "nosuch"),
        ("a vlm that is not one", "--out {ws}/o1 vlm={ws}/mydit", "mydit"),
        ("no seeds", "--out {ws}/o1 seeds=[]", "seeds"),
    ],
    "embed mteb": [
        ("neither --tasks nor --benchmark", "--model smollm2 --out {ws}/m1", "--tasks"),
        ("an unknown task", "--model smollm2 --tasks NoSuchTask --out {ws}/m1", "NoSuchTask"),
        ("a task not cached offline", "--model smollm2 --tasks STSBenchmark --out {ws}/m1", "not in the local cache"),
        ("--out holds a run", "--model smollm2 --tasks STSBenchmark --out {ws}/mydit", "diffusion"),
    ],
    "embed encode": [
        ("--out not .npy", "--model smollm2 --inputs {ws}/notes.txt --out {ws}/e.txt", "e.txt"),
        ("--out a folder", "--model smollm2 --inputs {ws}/notes.txt --out {ws}/userfiles", "userfiles"),
        ("no such inputs", "--model smollm2 --inputs {ws}/nosuch.txt --out {ws}/e.npy", "nosuch.txt"),
        ("a folder without media", "--model smollm2 --inputs {ws}/nomodel --out {ws}/e.npy", "nomodel"),
        ("malformed JSONL", "--model smollm2 --inputs {ws}/bad.jsonl --out {ws}/e.npy", "bad.jsonl:1"),
        ("no such model", "--model ./nosuchmodel --inputs {ws}/notes.txt --out {ws}/e.npy", "nosuchmodel"),
    ],
    "embed train": [
        ("unknown key", "--out {ws}/e1 lora.nosuch=3", "lora.nosuch"),
        ("--out holds a run", "--out {ws}/mydit", "diffusion"),
    ],
    "embed grsl": [
        ("unknown key", "--out {ws}/g1 nosuch=1", "nosuch"),
    ],
    "footprint report": [
        ("no such folder", "{ws}/nosuch", "nosuch"),
    ],
    "footprint compare": [
        ("no such run", "{ws}/nosuch {ws}/mydit", "nosuch"),
    ],
    "data skew": [
        ("unknown preset", "--preset nosuch --out {ws}/s1", "--preset"),
    ],
    "data shards": [
        ("no such source", "--src {ws}/nosuch --out {ws}/sh", "nosuch"),
        ("--per-shard 0", "--src {ws}/imgs --out {ws}/sh --per-shard 0", "--per-shard"),
    ],
    "fairness audit": [
        ("--images with --n", "--images {ws}/imgs --probe {ws}/nosuch --n 0", "--n"),
        ("--images with --n 5", "--images {ws}/imgs --probe {probe} --n 5", "--n"),
        ("--out holds a diffusion run", "--images {ws}/imgs --probe {probe} --out {ws}/mydit", "diffusion"),
        ("another audit's config", "--images {ws}/imgs --probe {probe} --out {ws}/audit1 --target uniform", "audit1"),
        ("--out inside a run", "--images {ws}/imgs --probe {probe} --out {ws}/audit1/artifacts", "inside the run"),
        ("no such probe", "--run {ws}/mydit --probe {ws}/nosuch", "nosuch"),
        ("--guide-window", "--run {ws}/mydit --probe {probe} --guide-window 2,1", "--guide-window"),
        ("a broken image", "--images {ws}/imgs-broken --probe {probe}", "broken.png"),
    ],
    "fairness probe": [
        ("no such RAE run", "--rae {ws}/nosuch --out {ws}/p1", "nosuch"),
        ("no such data", "--rae {ws}/rae-fmnist --data {ws}/nosuch --out {ws}/p1", "nosuch"),
    ],
    "fairness tradeoff": [
        ("no such run", "--run {ws}/nosuch --probe {probe} --out {ws}/t1", "nosuch"),
        ("--n 0", "--run {ws}/mydit --probe {probe} --out {ws}/t1 --n 0", "--n"),
    ],
    "demo": [
        ("--out is a file", "--out {ws}/notes.txt", "notes.txt"),
    ],
}
CASES = [(f"{verb}: {what}", f"{verb} {args}".strip(), culprit) for verb, rows in BAD.items()
         for what, args, culprit in rows]  # fmt: skip


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
        code = main(argv.format(ws=ws, probe=PROBE).split())
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
        if system == "judge":  # the deprecated spellings: see the next test
            continue
        sub = [a for a in action._actions if a.dest == "verb"]
        names = sub[0].choices if sub else {"": None}
        for verb, parser in names.items():
            quantum = [a for a in parser._actions if a.dest == "quantum_verb"] if parser else []
            for inner in quantum[0].choices if quantum else [""]:
                verbs.add(" ".join(w for w in (system, verb, inner) if w))
    covered = {" ".join(c[1].split()[: len(v.split())]) for c in CASES for v in verbs}
    assert not verbs - covered, sorted(verbs - covered)
    assert len(CASES) >= 60


@pytest.mark.parametrize("old, new", [("judge score", "diting score"), ("judge run", "quantum run"),
                                      ("judge quantum revalidate", "quantum revalidate")])  # fmt: skip
def test_an_old_spelling_says_the_new_one_then_behaves_as_it(old, new, ws, capsys):
    _, argv, culprit = next(c for c in CASES if c[1].startswith(new))
    code = main([*old.split(), *argv[len(new) :].format(ws=ws, probe=PROBE).split()])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 2, lines
    assert lines[0] == f"replab: note: 'replab {old}' is now 'replab {new}'; the old spelling goes in the next release"
    assert culprit in lines[1]


def test_the_ledger_and_config_of_a_refused_train_are_not_written(ws, tmp_path, monkeypatch):
    """The reproduction: a size the decoder does not have leaves no run, so the corrected command can start."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPLAB_LEDGER", str(tmp_path / "emissions.csv"))
    assert main(["rae", "train", "--preset", "fmnist", "--out", str(tmp_path / "x2"), "decoder.size=Q"]) == 2
    assert not (tmp_path / "x2").exists() and not (tmp_path / "emissions.csv").exists()
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == "[]"
