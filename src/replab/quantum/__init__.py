"""Quantum-computing evaluation of LLMs: execution-verified tasks, mutation-tested verifiers, a sandbox.

Layout (data flows down):

- ``schema``: what an instance is made of (``Built``, ``Mutant``) and the names results use (``KINDS``,
  ``REASONS``: why an answer failed).
- ``circuits``: circuit makers, ``(n, seed) -> QuantumCircuit``, and the mutations applied to them.
- ``verify``: equivalence (unitary, state, distribution, dynamic), constraints, resources.
- ``families.yaml`` and ``families``: the family table (prompt, maker, comparison, mutants, constraints or
  answer, per family) and what it names; ``code_tasks/``: the code tasks, each a real module (its hidden
  ``check``) with ``solutions/`` and ``wrong/`` programs beside it.
- ``tasks``: the task file (``assets/quantum/tasks.yaml``) → instances; checking one answer.
- ``sandbox``: a warm, forked, limited worker for model-written code.
- ``prompts``, ``versions``: what the model is told; the package versions every result records.
- ``run``: ``replab quantum run --task quantum`` (the model's answers as the solver, the execution verdict
  and the panel as scorers); ``humaneval`` and ``humaneval_run``: Qiskit HumanEval, the reference check
  (``replab quantum humaneval``) and ``--task qiskit-humaneval``; ``suites``: a suite by name.

Runs go through the shared harness (``replab.harness.evaluate``: backends, cache, retries, resume by item
id); pass@k comes from ``replab.metrics.passk``. The names below import on first use, so
``import replab.quantum`` needs no qiskit.

Adding a task:

- a circuit task: one entry in tasks.yaml naming a maker in ``circuits`` (write the maker if none fits):
  ``{id: my-state, maker: ghz, prompt: "Prepare ... on {n} qubits.", n: [3, 4], equivalence: {target: state},
  mutations: [do_nothing, wrong_width]}``; ``replab quantum revalidate`` then checks that the
  reference passes and every mutation is rejected with its reason;
- a family of its own: an entry in ``families.yaml`` (a prompt field or a concept answer it needs goes in
  ``families.PROMPT_FIELDS`` / ``ANSWERS``) and an entry ``{id: <family>, n: [...], seeds: [...]}`` in the
  task file (family and kind come from the id);
- a code task: ``code_tasks/<name>.py`` (``SIGNATURE``, ``DESCRIPTION``, ``check(candidate, n, seed)``),
  ``code_tasks/solutions/<name>.py`` and ``code_tasks/wrong/<name>.py``, and ``{id: code-<name>, n: [...]}``.
"""

from replab.core.lazy import lazy_exports

_PUBLIC = {
    "Instance": "tasks", "check_answer": "tasks", "load_tasks": "tasks", "revalidate": "tasks",
    "validate_instances": "tasks", "FAMILIES": "families", "load_families": "families", "Sandbox": "sandbox",
    "QuantumRunConfig": "run", "run_quantum": "run", "HumanEvalRunConfig": "humaneval_run",
    "run_humaneval": "humaneval_run", "run_suite": "suites", "KINDS": "schema", "REASONS": "schema",
}  # fmt: skip
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_exports(__name__, _PUBLIC)
