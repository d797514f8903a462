"""``replab judge run --task quantum`` end to end against the FAKE server: answers executed and verified,
a repair round that feeds the verifier's reason back, the panel, the report and chart, resume by item id."""

import json

import pytest

from replab.cli import main
from replab.quantum.tasks import load_tasks
from tests.fake_openai_server import FakeOpenAIServer

TASKS = """
- {id: bell-state, n: [2], seeds: [0, 1]}
- {id: hilbert-dimension, n: [3], seeds: [0]}
- {id: code-grover-iterations, kind: code, n: [4], seeds: [0]}
"""


def _responder(instances):
    answers = {i.prompt: i.built.answer for i in instances}

    def respond(messages):
        system, user = messages[0]["content"], messages[-1]["content"]
        if "reviewing answers" in system:  # the panel: believes the verifier
            verdict_passed = "failed:" not in user
            return json.dumps({"precision": 2 if verdict_passed else 0, "complexity": 1,
                               "correct": "yes" if verdict_passed else "no"})  # fmt: skip
        prompt = messages[1]["content"]
        if "Hilbert" in prompt or "dimension" in prompt:  # wrong first, right once told why
            return "ANSWER: 8" if "failed" in user else "ANSWER: 9"
        if prompt.startswith("Prepare the Bell state Φ−"):
            return '```qasm\nOPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\n```'  # never right
        return f"Here you go.\n```python\n{answers[prompt]}```" if "python" in prompt else answers[prompt]

    return respond


def test_quantum_run_with_repair_panel_report_and_resume(tmp_path):
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(TASKS)
    instances = load_tasks(tasks)
    out = tmp_path / "q"
    with FakeOpenAIServer(responder=_responder(instances)) as server:
        args = ["quantum", "run", "--task", "quantum", "--tasks", str(tasks), "--backend", "openai:m", "--base-url",
                server.base_url, "--samples", "2", "--repair", "1", "--panel", "--out", str(out)]  # fmt: skip
        assert main(args) == 0
        calls = len(server.requests)
        assert main(args) == 0 and len(server.requests) == calls  # finished items are not asked again
    summary = json.loads((out / "summary.json").read_text())
    table = summary["table"]
    assert summary["items"] == 8 and summary["errors"] == 0  # 4 instances × 2 samples
    assert table["circuit"]["pass@1"] == pytest.approx(0.5) and table["circuit"]["pass@2"] == pytest.approx(0.5)
    assert table["circuit"]["reasons"] == {"not_equivalent": 2}
    assert table["concept"]["pass@1"] == 0 and table["concept"]["pass@1_after_repair"] == 1
    assert table["code"]["pass@1"] == 1 and table["all"]["instances"] == 4
    assert summary["panel"]["items"] == 8 and summary["panel"]["cohen_kappa"] == pytest.approx(1.0)
    assert summary["versions"]["qiskit"].startswith("2.")
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    concept = next(r for r in lines if r["id"].startswith("hilbert"))
    assert [r["verdict"]["reason"] for r in concept["rounds"]] == ["not_equivalent", None]
    assert (out / "artifacts" / "report.md").exists() and (out / "artifacts" / "pass_by_kind.png").exists()
    assert (out / "footprint.json").exists() and (out / "config.yaml").exists()
