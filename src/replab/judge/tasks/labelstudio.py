"""Load the official DITING release: a Label Studio JSON export.

Each task holds ``data.{model, instruction, model_output, ground_truth}`` and per-annotator
``annotations[].result[]`` choices like "0分"/"1分"/"2分". The release uses the same three fields for
every dimension — ``term_appropriateness`` (S), ``localization_strategy`` (G1), ``fluency`` (G2) —
and human scores are averaged over annotators. The dimension and its key phrase (the idiom or term
in quotes) are read from the instruction. The source sentence is often withheld: the instruction
then ends in a locator such as ``<书名><第24章><第3句>``; such items are flagged and should be judged
in reference-aware mode.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

from replab.errors import DataError
from replab.judge.tasks.translation import DitingItem

FIELD_MAP = {"term_appropriateness": "S", "localization_strategy": "G1", "fluency": "G2"}
# (marker in the instruction, dimension), checked in order
DIMENSION_MARKERS = (
    ("是成语", "idiom"), ("习语", "idiom"), ("专有名词", "terminology"), ("术语", "terminology"),
    ("时态", "tense"), ("省略", "zero_pronoun"), ("代词", "zero_pronoun"), ("歧义", "lexical"),
    ("多义", "lexical"), ("敏感", "cultural_safety"), ("安全", "cultural_safety"),
)  # fmt: skip
LOCATOR = re.compile(r"^(<[^<>]+>)+$")
QUOTED = re.compile(r"[\"“「]([^\"”」]+)[\"”」]")
SOURCE_AFTER = re.compile(r"(?:文本|句子|原文)[:：]\s*(.+)$", re.S)
CONTEXT_AFTER = re.compile(r"上下文[:：]\s*(.+)$", re.S)


def dimension_of(instruction: str) -> str | None:
    for marker, dimension in DIMENSION_MARKERS:
        if marker in instruction:
            return dimension
    return None


def _score(choice: str, where: str) -> int:
    match = re.match(r"\s*([012])\s*分?\s*$", choice)
    if not match:
        raise DataError(f"{where}: choice '{choice}' is not one of 0分, 1分, 2分")
    return int(match.group(1))


def load_labelstudio(path: str | Path) -> list[DitingItem]:
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(tasks, list):
        raise DataError(f"{path}: expected a list of Label Studio tasks")
    items, withheld = [], 0
    for index, task in enumerate(tasks):
        where = f"{path}: task {task.get('id', f'#{index}')}"
        data = task.get("data") or {}
        for key in ("instruction", "model_output"):
            if key not in data:
                raise DataError(f"{where}: data.{key} is missing")
        instruction = data["instruction"]
        dimension = dimension_of(instruction)
        if dimension is None:
            raise DataError(f"{where}: cannot tell the dimension from the instruction: {instruction[:80]!r}")
        quoted = QUOTED.search(instruction)
        source_match = SOURCE_AFTER.search(instruction)
        context_match = CONTEXT_AFTER.search(instruction)
        source = source_match.group(1).strip() if source_match else ""
        context = context_match.group(1).strip() if context_match else ""
        if not source or LOCATOR.match(source):
            withheld += 1
            source = f"[source withheld in the release: {source or context or 'no locator'}]"
        if LOCATOR.match(context):
            context = ""
        scores: dict[str, list[int]] = {"S": [], "G1": [], "G2": []}
        for annotation in task.get("annotations", []):
            if annotation.get("was_cancelled"):
                continue
            for result in annotation.get("result", []):
                field = FIELD_MAP.get(result.get("from_name"))
                if field is None:
                    raise DataError(f"{where}: unknown annotation field '{result.get('from_name')}'; "
                                    f"known: {', '.join(FIELD_MAP)}")  # fmt: skip
                for choice in result.get("value", {}).get("choices", []):
                    scores[field].append(_score(choice, where))
        model = str(data.get("model", "model"))
        output = re.sub(r"^\s*Answer\s*:\s*", "", data["model_output"])
        human = {model: {k: sum(v) / len(v) for k, v in scores.items() if v}} if any(scores.values()) else {}
        items.append(DitingItem(
            id=str(task.get("id", index)), dimension=dimension, source=source, candidates={model: output},
            context=context, reference=str(data.get("ground_truth", "")).strip(),
            key_phrase=quoted.group(1) if quoted else "", human=human,
        ))  # fmt: skip
    if withheld:
        warnings.warn(
            f"{path}: {withheld} of {len(items)} items have no source text (the release gives a locator); "
            "judge them in reference-aware mode",
            stacklevel=2,
        )
    return items
