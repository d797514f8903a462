"""End to end, offline: translate the shipped DITING sample set with local:smollm2, then score it."""

import json
from pathlib import Path

import pytest

from replab.diting import pipeline

SAMPLE = Path(__file__).resolve().parent.parent / "src" / "replab" / "assets" / "diting" / "sample.jsonl"


@pytest.mark.slow
def test_sample_set_with_local_smollm2(tmp_path):
    run = tmp_path / "t"
    pipeline.translate(SAMPLE, "local:smollm2", run, concurrency=1, max_tokens=96)
    translations = [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]
    assert len(translations) == 12 and all(t["error"] is None and t["translation"] for t in translations)
    # every (item, system) pair gets string metrics; the judges (slow on a CPU) score the first pair
    pipeline.score(run, ["bleu", "chrf"], concurrency=1)
    pipeline.score(
        run, ["bleu", "chrf", "single", "agenteval"], "local:smollm2", concurrency=1, limit=1, max_tokens=120
    )
    strings = [json.loads(x) for x in (run / "scores" / "bleu+chrf" / "results.jsonl").read_text().splitlines()]
    assert len(strings) == 36 and {s["id"] for s in strings} >= {f"{t['id']}::good" for t in translations}
    folder = run / "scores" / "agenteval+bleu+chrf+single"
    judged = [json.loads(x) for x in (folder / "results.jsonl").read_text().splitlines()]
    assert len(judged) == 1
    # a 135M model often fails the JSON format even after the re-ask: such pairs carry their error
    assert all(s["error"] or s["scores"]["agenteval"] in range(7) for s in judged)
