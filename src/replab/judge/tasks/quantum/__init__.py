"""Quantum-computing evaluation of LLMs: execution-verified tasks, mutation-tested verifiers, a sandbox."""
