"""End to end, offline: the shipped quantum tasks answered by local:smollm2. A 135M model solves few of them;
what is checked is that every item is measured, nothing crashes, and the report is written."""

import json

import pytest

from replab.quantum.run import QuantumRunConfig, run_quantum
from replab.quantum.tasks import load_tasks


@pytest.mark.slow
def test_shipped_tasks_with_local_smollm2(tmp_path):
    summary = run_quantum(QuantumRunConfig(backend="local:smollm2", max_tokens=96), tmp_path / "q")
    instances = load_tasks()
    lines = [json.loads(x) for x in (tmp_path / "q" / "results.jsonl").read_text().splitlines()]
    assert len(lines) == len(instances) and summary["errors"] == 0  # every item measured by the verifier
    assert all(r["rounds"][0]["verdict"]["passed"] or r["rounds"][0]["verdict"]["reason"] for r in lines)
    assert summary["table"]["all"]["instances"] == len(instances)
    assert (tmp_path / "q" / "artifacts" / "report.md").exists()
