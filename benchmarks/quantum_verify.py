"""Quantum verification cost, side by side with the anchors' way, in one process.

1. Circuit verification (QFT on n = 2…10 qubits, a correct and a wrong OpenQASM answer): replab's verifier
   (exact operators to 6 qubits, 3 seeded random states above) against the anchors' exact ``Operator``
   comparison at every size. Median and p95 per answer; how cost grows with qubits.
2. Sandbox overhead per code item: replab's warm worker (one fork per item, qiskit already imported) against
   a fresh interpreter per item (``python -c``), on the same trivial Qiskit program.

    python benchmarks/quantum_verify.py [--repeats 7] [--items 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from qiskit.quantum_info import Operator

from replab.quantum import circuits as C
from replab.quantum.sandbox import Sandbox
from replab.quantum.verify import Equivalence, load_circuit, verify_circuit

PROGRAM = "from qiskit import QuantumCircuit\nqc = QuantumCircuit(2)\nqc.h(0)\nqc.cx(0, 1)\n"
TEST = (
    "from qiskit.quantum_info import Statevector\ndef check(ns):\n"
    "    return float(abs(Statevector(ns['qc'])[0]) ** 2)\n"
)


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_s": statistics.median(ordered), "p95_s": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}


def verification(repeats: int) -> dict:
    rows = {}
    for n in range(2, 11):
        reference = C.qft(n)
        good, bad = C.as_qasm(reference), C.as_qasm(C.extra_phase(reference, 0, "t"))
        ours, anchor = [], []
        for _ in range(repeats):
            for answer, expected in ((good, True), (bad, False)):
                start = time.perf_counter()
                assert verify_circuit(answer, reference, Equivalence(target="unitary")).passed is expected
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                assert Operator(load_circuit(answer)).equiv(Operator(reference)) is expected
                anchor.append(time.perf_counter() - start)
        rows[n] = {"replab": _stats(ours), "exact Operator": _stats(anchor)}
        print(f"n={n:2d}  replab median {rows[n]['replab']['median_s'] * 1e3:7.1f} ms  p95 "
              f"{rows[n]['replab']['p95_s'] * 1e3:7.1f} ms   exact Operator median "
              f"{rows[n]['exact Operator']['median_s'] * 1e3:8.1f} ms", flush=True)  # fmt: skip
    return rows


def sandbox_overhead(items: int) -> dict:
    warm, fresh = [], []
    with Sandbox() as box:
        box.run("x = 1\n")  # start the worker before timing
        for _ in range(items):
            start = time.perf_counter()
            assert box.run(PROGRAM, TEST).passed
            warm.append(time.perf_counter() - start)
    script = PROGRAM + TEST + "print(check({'qc': qc}))\n"
    for _ in range(max(3, items // 4)):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
        fresh.append(time.perf_counter() - start)
    result = {"warm worker": _stats(warm), "fresh interpreter": _stats(fresh)}
    print(f"sandbox: warm worker median {result['warm worker']['median_s'] * 1e3:.1f} ms per item; fresh "
          f"interpreter median {result['fresh interpreter']['median_s'] * 1e3:.0f} ms per item")  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = {"verification": verification(args.repeats), "sandbox": sandbox_overhead(args.items)}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
