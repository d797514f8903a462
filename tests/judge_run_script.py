"""Run N echo items against a (fake) server into OUT; used by the SIGKILL test as a child process."""

import asyncio
import sys

from replab.harness.backends import GenerationParams, OpenAIBackend, RetryPolicy
from replab.harness.runner import run_items


async def main(base_url: str, out: str, n: int) -> None:
    backend = OpenAIBackend("m", base_url, concurrency=4, retry=RetryPolicy(6, 0.01, 0.05, 0.5, stop_after=0))

    async def solve(item):
        response = await backend.complete([{"role": "user", "content": item["text"]}], GenerationParams())
        return {"responses": [response.to_dict()], "answer": response.text}

    await run_items([{"id": f"q{i}", "text": f"question {i}"} for i in range(n)], solve, out, concurrency=4)
    await backend.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
