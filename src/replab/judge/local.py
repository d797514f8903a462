"""``local:smollm2``: SmolLM2-135M-Instruct on the CPU through transformers, so the pipeline runs offline.

It is a 135M-parameter model: it exercises the pipeline end to end; it is not a judge of translation
quality, and every run that uses it says so.
"""

from __future__ import annotations

import asyncio
import sys
import time

from replab.judge.backends import GenerationParams, Response

NOTICE = (
    "local:smollm2 is SmolLM2-135M-Instruct, a tiny model: it runs the pipeline offline, its scores say "
    "nothing about translation quality"
)


class LocalSmolLM2Backend:
    kind = "local"

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

    def _generate(self, messages: list[dict[str, str]], params: GenerationParams) -> Response:
        import torch

        from replab.core.smollm2 import load_smollm2

        if self._model is None:
            self._model, self._tokenizer = load_smollm2()
        start = time.perf_counter()
        inputs = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                     return_dict=True)  # fmt: skip
        with torch.no_grad():
            output = self._model.generate(
                **inputs, max_new_tokens=params.max_tokens, do_sample=params.temperature > 0,
                temperature=params.temperature or None, top_p=params.top_p if params.temperature > 0 else None,
                pad_token_id=self._tokenizer.eos_token_id,
            )  # fmt: skip
        new = output[0, inputs["input_ids"].shape[1] :]
        text = self._tokenizer.decode(new, skip_special_tokens=True)
        self.calls += 1
        return Response(text=text, prompt_tokens=int(inputs["input_ids"].shape[1]), completion_tokens=len(new),
                        latency_s=time.perf_counter() - start)  # fmt: skip

    async def complete(self, messages: list[dict[str, str]], params: GenerationParams) -> Response:
        async with self._lock:  # one generation at a time: the CPU is the bottleneck
            return await asyncio.to_thread(self._generate, messages, params)

    async def aclose(self) -> None:
        pass
