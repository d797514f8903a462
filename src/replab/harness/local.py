"""``local:smollm2``: SmolLM2-135M-Instruct on the CPU through transformers, so the pipeline runs offline.

It is a 135M-parameter model: it exercises the pipeline end to end; it is not a judge of translation
quality, and every run that uses it says so. Besides generating, it reads its own next-token
distribution after a forced assistant prefix (``choice_logprobs``), which gives a probability-weighted
score even when its free-form answer is not valid JSON.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from replab.harness.protocol import GenerationParams, Messages, Response

NOTICE = (
    "local:smollm2 is SmolLM2-135M-Instruct, a tiny model: it runs the pipeline offline, its scores say "
    "nothing about translation quality"
)


class LocalSmolLM2Backend:
    kind = "local"
    max_concurrency = 1  # one generation at a time: items then finish one by one, not all at the end

    def __init__(self) -> None:
        self.model_name = "smollm2-135m-instruct"
        self._model = self._tokenizer = None
        self._lock = asyncio.Lock()
        self.calls = 0
        print(f"note: {NOTICE}", file=sys.stderr)

    @property
    def model(self) -> str:
        return self.model_name

    def identity(self) -> dict[str, str]:
        return {"backend": self.kind, "model": self.model_name, "base_url": ""}

    def _load(self) -> None:
        if self._model is None:
            from replab.core.smollm2 import load_smollm2

            self._model, self._tokenizer = load_smollm2()

    def _prompt_ids(self, messages: Messages, prefix: str = ""):
        text = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + prefix
        return self._tokenizer(text, return_tensors="pt", add_special_tokens=False)

    def _generate(self, messages: Messages, params: GenerationParams) -> Response:
        import torch

        self._load()
        start = time.perf_counter()
        inputs = self._prompt_ids(messages)
        with torch.no_grad():
            output = self._model.generate(
                **inputs, max_new_tokens=params.max_tokens, do_sample=params.temperature > 0,
                temperature=params.temperature or None, top_p=params.top_p if params.temperature > 0 else None,
                pad_token_id=self._tokenizer.eos_token_id, output_scores=bool(params.top_logprobs),
                return_dict_in_generate=True,
            )  # fmt: skip
        new = output.sequences[0, inputs["input_ids"].shape[1] :]
        text = self._tokenizer.decode(new, skip_special_tokens=True)
        self.calls += 1
        logprobs = self._token_logprobs(new, output.scores, params.top_logprobs) if params.top_logprobs else None
        return Response(text=text, prompt_tokens=int(inputs["input_ids"].shape[1]), completion_tokens=len(new),
                        latency_s=time.perf_counter() - start, logprobs=logprobs)  # fmt: skip

    def _token_logprobs(self, new, scores, k: int) -> list[dict[str, Any]]:
        out = []
        for token, logits in zip(new.tolist(), scores):
            logp = logits[0].float().log_softmax(-1)
            top = logp.topk(k)
            out.append(
                {
                    "token": self._tokenizer.decode([token]),
                    "logprob": float(logp[token]),
                    "top": {self._tokenizer.decode([i]): float(v) for v, i in zip(top.values, top.indices)},
                }
            )
        return out

    def _choices(self, messages: Messages, prefix: str, choices: list[str]) -> dict[str, float]:
        """Exact log-probabilities of each choice's tokens after the chat prompt and ``prefix``."""
        import torch

        self._load()
        context = self._prompt_ids(messages, prefix)["input_ids"]
        ids = [self._tokenizer(c, add_special_tokens=False)["input_ids"] for c in choices]
        out = {}
        with torch.no_grad():
            if all(len(i) == 1 for i in ids):  # single-token choices (score digits): one forward for all
                logp = self._model(input_ids=context).logits[0, -1].float().log_softmax(-1)
                self.calls += 1
                return {c: float(logp[i[0]]) for c, i in zip(choices, ids)}
            for choice in choices:
                ids = self._tokenizer(choice, return_tensors="pt", add_special_tokens=False)["input_ids"]
                logits = self._model(input_ids=torch.cat([context, ids], 1)).logits[0, context.shape[1] - 1 : -1]
                out[choice] = float(logits.float().log_softmax(-1).gather(1, ids[0].unsqueeze(1)).sum())
        self.calls += 1
        return out

    async def complete(self, messages: Messages, params: GenerationParams) -> Response:
        async with self._lock:  # one generation at a time: the CPU is the bottleneck
            return await asyncio.to_thread(self._generate, messages, params)

    async def choice_logprobs(self, messages: Messages, prefix: str, choices: list[str]) -> dict[str, float]:
        async with self._lock:
            return await asyncio.to_thread(self._choices, messages, prefix, choices)

    async def aclose(self) -> None:
        pass
