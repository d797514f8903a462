"""The LLM-evaluation harness the evaluation systems share, in inspect_ai's shape (a task is a dataset, a
solver and scorers); it knows no system.

- ``protocol``: ``Backend``, ``GenerationParams``, ``Response``, server health;
- ``backends``: backends by string (``openai:<model>`` for any OpenAI-compatible server, ``local:smollm2``),
  retries; ``local``: the offline model; ``cache``: the SQLite response cache;
- ``task``: ``Task``, scorers, ``run_task``; ``runner``: bounded concurrency, one JSON line per item, resume
  by item id;
- ``evaluate``: one job end to end — the backend made and closed, the task built with it and run.
"""

from replab.harness.evaluate import BackendSpec, Evaluation, evaluate, evaluate_in_run, make_backend
from replab.harness.protocol import Backend, BackendError, GenerationParams, Response
from replab.harness.task import Task, make_scorers, run_task

__all__ = ["Backend", "BackendError", "BackendSpec", "Evaluation", "GenerationParams", "Response", "Task",
           "evaluate", "evaluate_in_run", "make_backend", "make_scorers", "run_task"]  # fmt: skip
