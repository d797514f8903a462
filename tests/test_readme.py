"""The README's "Use from Python" blocks, run as written (the judge block against the FAKE server, whose
address replaces the README's 127.0.0.1:8000)."""

import json
import re
from pathlib import Path

import pytest

from tests.fake_openai_server import FakeOpenAIServer

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = README.read_text().split("## Use from Python", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION, re.S)


def _blocks(slow: bool) -> list[str]:
    return [b for b in BLOCKS if b.startswith("# needs: make slow-deps") == slow]


def test_the_section_has_its_blocks():
    assert len(_blocks(slow=False)) == 5 and len(_blocks(slow=True)) == 1


def _fake_judge(messages):
    verdict = {"S": 1, "G1": 1, "G2": 2, "reason": "fake"}
    if "chief reviewer" in messages[0]["content"]:
        verdict["judge"] = "yes"
    return json.dumps(verdict)


def test_readme_python_blocks_run(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    diffusion, judge, fairness, omni, with_mteb = _blocks(slow=False)
    scope: dict = {}
    exec(compile(diffusion, "README.md (diffusion block)", "exec"), scope)
    assert tuple(scope["images"].shape) == (4, 1, 28, 28) and tuple(scope["latents"].shape) == (4, 128, 7, 7)
    assert scope["config"].sample.cfg_scale == 5.0
    with FakeOpenAIServer(responder=_fake_judge) as server:
        exec(compile(judge.replace("http://127.0.0.1:8000/v1", server.base_url), "README.md (judge block)", "exec"),
             scope)  # fmt: skip
    assert scope["debate"]["scores"]["total"] == 4 and scope["debate"]["rounds"] == 1
    assert scope["single"]["scores"]["total"] == 4
    exec(compile(fairness, "README.md (fairness block)", "exec"), scope)
    assert scope["report"].overall["fairness_discrepancy"] == pytest.approx(0.2828, abs=1e-4)
    assert scope["report"].difference() == pytest.approx(0.4) and scope["report"].by_group[0]["share"] == 0.3
    corrected = scope["probe_only"].to_dict()["probe_corrected"]
    assert scope["probe_only"].overall["reading"] == "probe_corrected"
    assert corrected["low"][0] <= 0.3 <= corrected["high"][0]  # the 90 %-accurate probe's error corrected
    exec(compile(omni, "README.md (omnimodal block)", "exec"), scope)
    assert scope["embeddings"].shape == (4, 64) and scope["model"].modalities == ("text", "image", "video", "audio")
    exec(compile(with_mteb, "README.md (mteb block)", "exec"), scope)
    assert not scope["results"].exceptions and 0 <= scope["results"].task_results[0].get_score() <= 1


@pytest.mark.slow
def test_readme_embedding_block_runs():
    scope: dict = {}
    exec(compile(_blocks(slow=True)[0], "README.md (embedding block)", "exec"), scope)
    assert tuple(scope["model"].similarity(scope["queries"], scope["docs"]).shape) == (1, 2)
