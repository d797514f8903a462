"""An on-disk response cache (SQLite) keyed on backend, model, base URL, messages and generation parameters."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

from replab.harness.protocol import Backend, GenerationParams, Messages, Response, can_score_choices


def cache_key(identity: dict[str, str], messages: list[dict[str, str]], params: GenerationParams) -> str:
    blob = json.dumps({"identity": identity, "messages": messages, "params": asdict(params)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        # no fsync per commit (WAL stays consistent; an OS crash may lose the last answers, which are asked
        # again): a commit with fsync blocked the event loop ~0.6 ms per answer, a wave of 16 for ~10 ms
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL)")
        self.db.commit()

    def get_json(self, key: str) -> Any:
        row = self.db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_json(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO responses (key, response) VALUES (?, ?)", (key, json.dumps(value)))
        self.db.commit()

    def get(self, key: str) -> Response | None:
        row = self.db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        return Response(**{**data, "cached": True})

    def put(self, key: str, response: Response) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO responses (key, response) VALUES (?, ?)", (key, json.dumps(response.to_dict()))
        )
        self.db.commit()

    def close(self) -> None:
        self.db.close()


class CachedBackend:
    """Wraps a backend: a hit makes no call; a miss calls, then stores."""

    def __init__(self, backend: Backend, cache: ResponseCache) -> None:
        self.backend = backend
        self.cache = cache
        self.hits = 0

    @property
    def model(self) -> str:
        return self.backend.model

    def identity(self) -> dict[str, str]:
        return self.backend.identity()

    async def complete(self, messages: list[dict[str, str]], params: GenerationParams) -> Response:
        key = cache_key(self.backend.identity(), messages, params)
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        response = await self.backend.complete(messages, params)
        self.cache.put(key, response)
        return response

    @property
    def max_concurrency(self) -> int | None:
        return getattr(self.backend, "max_concurrency", None)

    @property
    def scores_choices(self) -> bool:
        return can_score_choices(self.backend)

    async def choice_logprobs(self, messages: Messages, prefix: str, choices: list[str]) -> dict[str, float]:
        blob = json.dumps({"identity": self.backend.identity(), "messages": messages, "prefix": prefix,
                           "choices": choices}, sort_keys=True)  # fmt: skip
        key = "choices:" + hashlib.sha256(blob.encode()).hexdigest()
        hit = self.cache.get_json(key)
        if hit is not None:
            self.hits += 1
            return hit
        value = await self.backend.choice_logprobs(messages, prefix, choices)
        self.cache.put_json(key, value)
        return value

    async def aclose(self) -> None:
        await self.backend.aclose()
