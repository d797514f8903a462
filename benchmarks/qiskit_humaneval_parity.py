"""Qiskit HumanEval: the official harness and replab on the same install, side by side, task by task.

Runs, for each variant, the authors' ``scripts/test_solutions.py`` (in-process ``exec``; ``-e`` for hard)
from a copy of their repository, then ``replab quantum humaneval`` (the sandbox) on the same dataset
file, one after the other in one process tree; reports both pass counts, their wall times and ratio, and
every task where the two disagree. Nothing of the repository is copied into replab.

    git clone https://github.com/qiskit-community/qiskit-human-eval /tmp/qhe
    python benchmarks/qiskit_humaneval_parity.py --repo /tmp/qhe [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from replab.quantum import humaneval as he

DATASETS = {"normal": "dataset/dataset_qiskit_test_human_eval.json",
            "hard": "dataset/dataset_qiskit_test_human_eval_hard.json"}  # fmt: skip


def official(repo: Path, variant: str, out: Path) -> float:
    """The official harness's wall time (it exits 1 when any task fails; its results file is what counts)."""
    command = [sys.executable, "scripts/test_solutions.py", "-d", DATASETS[variant], "-o", str(out)]
    start = time.perf_counter()
    subprocess.run(command + (["-e"] if variant == "hard" else []), cwd=repo, capture_output=True, check=False)
    if not out.exists():
        raise SystemExit(f"the official harness wrote no results for {variant}: run it by hand in {repo}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="a copy of qiskit-community/qiskit-human-eval")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    repo, rows = Path(args.repo), []
    with tempfile.TemporaryDirectory() as tmp:
        for variant, dataset in DATASETS.items():
            official_file = Path(tmp) / f"official_{variant}.json"
            official_s = official(repo, variant, official_file)
            tasks = [t["task_id"] for t in he.load_humaneval(repo / dataset)]
            theirs = he.official_passes(official_file, tasks, variant)
            start = time.perf_counter()
            report = he.check_references(repo / dataset, variant)
            replab_s = time.perf_counter() - start
            disagree = he.compare(report, theirs)
            rows.append({"variant": variant, "tasks": len(tasks), "official_passed": sum(theirs.values()),
                         "replab_passed": report["passed"], "disagreements": disagree,
                         "replab_by_reason": report["by_reason"], "official_s": round(official_s, 1),
                         "replab_s": round(replab_s, 1), "ratio": round(replab_s / official_s, 2),
                         "versions": report["versions"]})  # fmt: skip
    print("| variant | tasks | official passes | replab passes | disagreements | official wall | replab wall | "
          "replab / official |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in rows:
        print(f"| {r['variant']} | {r['tasks']} | {r['official_passed']} | {r['replab_passed']} | "
              f"{len(r['disagreements'])} | {r['official_s']} s | {r['replab_s']} s | {r['ratio']}× |")  # fmt: skip
    for r in rows:
        print(f"{r['variant']}: replab's failures by reason {r['replab_by_reason']}; disagreements "
              f"{[d['task_id'] for d in r['disagreements']]}")  # fmt: skip
    print(f"versions: {rows[0]['versions']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
