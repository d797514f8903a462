"""DITING: web-novel translation evaluated by LLM judges — the six dimensions and their rubrics
(``translation``), AgentEval's debate and the single-judge baseline (``agents``), BLEU / chrF++ / COMET and the
judges as scorers (``translation_task``), the probability-weighted score (``weighted``), the official Label
Studio export (``labelstudio``), meta-evaluation against human scores (``meta``), and the three jobs
``replab diting translate | score | meta`` (``pipeline``). Backends, cache, retries and resume come from
``replab.harness``.

    from replab.diting import agenteval
    from replab.harness import make_backend
    backend = make_backend("openai:qwen2.5-72b", base_url="http://127.0.0.1:8000/v1")
    result = asyncio.run(agenteval(backend, item, "candidate translation", GenerationParams()))
"""

from replab.diting.agents import agent_eval as agenteval
from replab.diting.agents import single_judge
from replab.diting.pipeline import meta, score, translate
from replab.diting.translation import DIMENSIONS, DitingItem, load_items
from replab.diting.translation_task import SCORERS

__all__ = ["DIMENSIONS", "SCORERS", "DitingItem", "agenteval", "load_items", "meta", "score", "single_judge",
           "translate"]  # fmt: skip
