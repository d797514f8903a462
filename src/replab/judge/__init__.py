"""LLM judging in inspect_ai's shape (task = dataset + solver + scorers): backends chosen by a string, an
on-disk response cache, a runner that resumes by item id, AgentEval and the single-judge baseline.

    from replab.judge import agenteval, make_backend
    backend = make_backend("openai:qwen2.5-72b", base_url="http://127.0.0.1:8000/v1")
    result = asyncio.run(agenteval(backend, item, "candidate translation", GenerationParams()))
"""

from replab.judge.agents import agent_eval as agenteval
from replab.judge.agents import single_judge
from replab.judge.pipeline import make_backend
from replab.judge.protocol import Backend, BackendError, GenerationParams, Response
from replab.judge.task import SCORERS, Task, run_task
from replab.judge.tasks.translation import DitingItem

__all__ = [
    "SCORERS", "Backend", "BackendError", "DitingItem", "GenerationParams", "Response", "Task", "agenteval",
    "make_backend", "run_task", "single_judge",
]  # fmt: skip
