"""What the model is told: the system turn shared by the quantum suites, the repair turn, Qiskit HumanEval's
two prompt variants."""

from __future__ import annotations

from typing import Any

SYSTEM = "You are an expert in quantum computing and Qiskit 2.x. Answer exactly in the format the task asks for."
REPAIR = ("Your answer was executed and it failed: {reason} ({detail}). Fix it and answer again in the same "
          "format.")  # fmt: skip
NORMAL_PROMPT = ("Complete this Python function (Qiskit 2.x). Reply with the whole function, imports included, in "
                 "one ```python block.\n\n```python\n{prompt}```")  # fmt: skip
HARD_PROMPT = "{prompt}\n\nReply with a complete Python program, imports included, in one ```python block."


def humaneval_prompt(task: dict[str, Any], variant: str) -> str:
    """The user turn for a Qiskit HumanEval task: complete a signature (normal) or write a program (hard)."""
    return (HARD_PROMPT if variant == "hard" else NORMAL_PROMPT).format(prompt=task["prompt"])
