"""translate → score → meta through the CLI, against the FAKE server playing translator and judges."""

import json
import re
from pathlib import Path

from replab.cli import main
from tests.fake_openai_server import FakeOpenAIServer

SAMPLE = Path(__file__).resolve().parent.parent / "src" / "replab" / "assets" / "diting" / "sample.jsonl"
GOOD = {json.loads(line)["candidates"]["good"] for line in SAMPLE.read_text().splitlines()}


def fake_translator_and_judge(messages):
    system, user = messages[0]["content"], messages[-1]["content"]
    if system.startswith("Translate"):
        return "A fake translation."
    candidate = re.search(r"<<<CANDIDATE TRANSLATION (\w+)>>>\n(.*?)\n<<<END CANDIDATE TRANSLATION \1>>>", user, re.S)
    score = 2 if candidate and candidate.group(2) in GOOD else 0
    verdict = {"S": score, "G1": score, "G2": max(score - 1, 0), "reason": "fake"}
    if "chief reviewer" in system:
        verdict["judge"] = "yes"
    return json.dumps(verdict)


SECRET = "sk-pipeline-SECRET-0123456789"


def test_translate_score_meta(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    run = tmp_path / "t"
    with FakeOpenAIServer(responder=fake_translator_and_judge) as server:
        url = server.base_url
        assert main(["judge", "translate", "--data", str(SAMPLE), "--backend", "openai:mt", "--base-url", url,
                     "--out", str(run)]) == 0  # fmt: skip
        assert main(["judge", "score", "--run", str(run), "--metrics", "bleu,chrf,single,agenteval",
                     "--judge-backend", "openai:judge", "--base-url", url]) == 0  # fmt: skip
        calls = len(server.requests)
        assert main(["judge", "score", "--run", str(run), "--metrics", "bleu,chrf,single,agenteval",
                     "--judge-backend", "openai:judge", "--base-url", url]) == 0  # fmt: skip
        assert len(server.requests) == calls  # a finished evaluation reruns with zero backend calls
    folder = run / "scores" / "agenteval+bleu+chrf+single"
    lines = [json.loads(x) for x in (folder / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 12 * 3 and len({r["id"] for r in lines}) == 36  # 2 candidates + the new system each
    good = next(r for r in lines if r["id"] == "idiom-1::good")
    assert good["scores"]["agenteval"] == 5 and good["scores"]["single"] == 5 and good["rounds"] == 1
    assert good["scores"]["bleu"] >= 0 and good["tokens"] > 0 and len(good["responses"]["agenteval"]) == 3
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["mode"] == "reference-free" and "nrefs:1" in summary["signatures"]["bleu"]
    assert main(["judge", "score", "--run", str(run), "--metrics", "comet"]) == 0
    comet = json.loads((run / "scores" / "comet" / "summary.json").read_text())["comet"]
    assert comet.startswith("skipped: ") or comet.startswith("Unbabel/")  # skipped with its reason, never faked
    assert main(["judge", "meta", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "agenteval" in out and "bootstrap" in out and (run / "meta.png").exists()
    table = json.loads((run / "meta.json").read_text())
    assert table["agenteval"]["spearman"]["r"] > 0.8  # the fake judge agrees with the sample's scores
    assert all(r["headers"].get("Authorization") == f"Bearer {SECRET}" for r in server.requests)
    for path in run.rglob("*"):  # results, cache, summaries, plots: the key is in none of them
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in out
