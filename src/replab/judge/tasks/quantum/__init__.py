"""Quantum-computing evaluation of LLMs: execution-verified tasks, mutation-tested verifiers, a sandbox.

Layout (data flows down):

- ``schema``: what an instance is made of (``Built``, ``Mutant``) and the names results use (``KINDS``,
  ``REASONS``: why an answer failed).
- ``circuits``: circuit makers, ``(n, seed) -> QuantumCircuit``, and the mutations applied to them.
- ``verify``: equivalence (unitary, state, distribution, dynamic), constraints, resources.
- ``families``: one builder per task family (prompt, reference, mutants); ``code_tasks/``: the code
  tasks, each a real module (its hidden ``check``) with ``solutions/`` and ``wrong/`` programs beside it.
- ``tasks``: the task file (``assets/quantum/tasks.yaml``) → instances; checking one answer.
- ``sandbox``: a warm, forked, limited worker for model-written code.
- ``run``: ``replab judge run --task quantum``; ``humaneval`` and ``humaneval_run``: Qiskit HumanEval, the
  reference check and ``--task qiskit-humaneval``.

Adding a task:

- a circuit task: one entry in tasks.yaml naming a maker in ``circuits`` (write the maker if none fits):
  ``{id: my-state, maker: ghz, prompt: "Prepare ... on {n} qubits.", n: [3, 4], equivalence: {target: state},
  mutations: [do_nothing, wrong_width]}``; ``replab judge quantum revalidate`` then checks that the
  reference passes and every mutation is rejected with its reason;
- a family of its own (a prompt that needs more than a format string): a ``Family`` in ``families.FAMILIES``
  and an entry ``{id: <family>, n: [...], seeds: [...]}`` (family and kind come from the id);
- a code task: ``code_tasks/<name>.py`` (``SIGNATURE``, ``DESCRIPTION``, ``check(candidate, n, seed)``),
  ``code_tasks/solutions/<name>.py`` and ``code_tasks/wrong/<name>.py``, and ``{id: code-<name>, n: [...]}``.
"""
