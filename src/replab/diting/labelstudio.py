"""Load the official DITING release: a Label Studio JSON export.

Each task holds ``data.{model, instruction, model_output, ground_truth}`` and per-annotator
``annotations[].result[]`` choices like "0分"/"1分"/"2分". The release uses the same three fields for
every dimension — ``term_appropriateness`` (S), ``localization_strategy`` (G1), ``fluency`` (G2) —
and human scores are averaged over annotators (a task may have one or two). Free-text annotator
``comments`` (a Label Studio textarea) are kept with the item, never refused. The dimension and its
key phrase (the idiom or term in quotes) are read from the instruction — zero-pronoun tasks describe
the phenomenon as 主语缺省 (omitted subject). The source sentence is often withheld: the instruction
then ends in a locator such as ``<书名><第24章><第3句>``; such items are flagged (one notice per file)
and should be judged in reference-aware mode. A task with no model output is loaded without a
candidate and said so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from replab.diting.translation import DitingItem
from replab.errors import DataError, notice

FIELD_MAP = {"term_appropriateness": "S", "localization_strategy": "G1", "fluency": "G2"}
TEXT_FIELDS = ("comments",)  # free-text annotations kept as metadata
# (marker in the instruction, dimension), checked in order
DIMENSION_MARKERS = (
    ("是成语", "idiom"), ("习语", "idiom"), ("专有名词", "terminology"), ("术语", "terminology"),
    ("时态", "tense"), ("省略", "zero_pronoun"), ("缺省", "zero_pronoun"), ("代词", "zero_pronoun"),
    ("歧义", "lexical"), ("多义", "lexical"), ("敏感", "cultural_safety"), ("安全", "cultural_safety"),
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


def _annotations(task: dict, where: str) -> tuple[dict[str, list[int]], list[str]]:
    """Scores per field over the annotators that did not cancel, and their free-text comments."""
    scores: dict[str, list[int]] = {"S": [], "G1": [], "G2": []}
    comments: list[str] = []
    for annotation in task.get("annotations") or []:
        if annotation.get("was_cancelled"):
            continue
        for result in annotation.get("result") or []:
            name, value = result.get("from_name"), result.get("value") or {}
            if name in TEXT_FIELDS or result.get("type") == "textarea":
                comments += [str(t) for t in value.get("text") or []]
                continue
            field = FIELD_MAP.get(name)
            if field is None:
                raise DataError(f"{where}: unknown annotation field '{name}'; known: "
                                f"{', '.join(FIELD_MAP)} (scores), {', '.join(TEXT_FIELDS)} (text)")  # fmt: skip
            for choice in value.get("choices") or []:
                scores[field].append(_score(choice, where))
    return scores, comments


def _item(task: dict, index: int, where: str) -> tuple[DitingItem, bool]:
    """One task as an item, and whether its source sentence is withheld."""
    data = task.get("data") or {}
    if not isinstance(data.get("instruction"), str):
        raise DataError(f"{where}: data.instruction is missing")
    instruction = data["instruction"]
    dimension = dimension_of(instruction)
    if dimension is None:
        raise DataError(f"{where}: cannot tell the dimension from the instruction: {instruction[:80]!r}")
    quoted = QUOTED.search(instruction)
    source_match, context_match = SOURCE_AFTER.search(instruction), CONTEXT_AFTER.search(instruction)
    source = source_match.group(1).strip() if source_match else ""
    context = context_match.group(1).strip() if context_match else ""
    withheld = not source or bool(LOCATOR.match(source))
    if withheld:
        source = f"[source withheld in the release: {source or context or 'no locator'}]"
    if LOCATOR.match(context):
        context = ""
    scores, comments = _annotations(task, where)
    model = str(data.get("model") or "model")
    output = data.get("model_output")
    candidates = {model: re.sub(r"^\s*Answer\s*:\s*", "", output)} if isinstance(output, str) else {}
    human = {model: {k: sum(v) / len(v) for k, v in scores.items() if v}} if any(scores.values()) else {}
    item = DitingItem(
        id=str(task.get("id", index)), dimension=dimension, source=source, candidates=candidates,
        context=context, reference=str(data.get("ground_truth") or "").strip(),
        key_phrase=quoted.group(1) if quoted else "", human=human,
        notes={"comments": comments} if comments else {},
    )  # fmt: skip
    return item, withheld


def load_labelstudio(path: str | Path) -> list[DitingItem]:
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(tasks, list):
        raise DataError(f"{path}: expected a list of Label Studio tasks")
    items, withheld, no_output = [], 0, []
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise DataError(f"{path}: task #{index} is a {type(task).__name__}, not a Label Studio task object")
        item, hidden = _item(task, index, f"{path}: task {task.get('id', f'#{index}')}")
        items.append(item)
        withheld += hidden
        if not item.candidates:
            no_output.append(item.id)
    if withheld:
        notice(f"{path}: {withheld} of {len(items)} items have no source text (the release gives a locator); "
               "judge them in reference-aware mode (--reference-aware)")  # fmt: skip
    if no_output:
        notice(f"{path}: {len(no_output)} task(s) have no model output and are loaded without a candidate "
               f"(ids {', '.join(no_output[:5])}{', …' if len(no_output) > 5 else ''})")  # fmt: skip
    return items
