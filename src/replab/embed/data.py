"""Training and evaluation text: WordNet (Debian ``wordnet-base``) and user JSONL triplets.

WordNet gives, per synset, its lemma string ("dog, domestic dog, Canis familiaris"), its definition,
its example sentences and its siblings (synsets under the same hypernym). Triplets are
(anchor, positive, hard negative) with the negative taken from a sibling. A held-out set of synsets is
never trained on, and neither is any synset sharing a lemma with a held-out one (nor is such a synset
used as a distractor, which would make a query ambiguous).
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replab.errors import DataError

WORDNET_DIRS = ("/usr/share/wordnet", "/usr/share/wordnet-3.0/dict", "/usr/local/WordNet-3.0/dict")
POS_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
_ADJ_MARKER = re.compile(r"\([a-z]+\)$")


@dataclass
class Synset:
    id: str
    lemmas: list[str]
    definition: str
    examples: list[str]
    hypernyms: list[str] = field(default_factory=list)

    @property
    def lemma_string(self) -> str:
        return ", ".join(self.lemmas)


@dataclass
class Triplet:
    anchor: str | dict  # a text, or {"image": path, ...} for a multimodal base
    positive: str | dict
    negative: str | dict | None = None


def wordnet_dir() -> Path:
    for candidate in [os.environ.get("REPLAB_WORDNET_DIR"), *WORDNET_DIRS]:
        if candidate and (Path(candidate) / "data.noun").exists():
            return Path(candidate)
    raise DataError(
        "WordNet is missing: run 'sudo apt-get install wordnet-base' (or make data), "
        "or set REPLAB_WORDNET_DIR to a folder holding data.noun"
    )


def parse_data_line(line: str, pos: str) -> Synset:
    """One line of a WordNet ``data.<pos>`` file (format: wndb(5WN))."""
    head, _, gloss = line.partition(" | ")
    fields = head.split()
    offset, count = fields[0], int(fields[3], 16)
    words = fields[4 : 4 + 2 * count : 2]
    lemmas = [_ADJ_MARKER.sub("", w).replace("_", " ") for w in words]
    rest = fields[4 + 2 * count :]
    hypernyms = []
    for k in range(int(rest[0])):
        symbol, target, target_pos = rest[1 + 4 * k : 4 + 4 * k]
        if symbol in ("@", "@i"):
            hypernyms.append(f"{'a' if target_pos == 's' else target_pos}{target}")
    examples = [e.strip() for e in re.findall(r'"([^"]+)"', gloss) if e.strip()]
    definition = gloss.split('"')[0].strip().rstrip(";").strip()
    return Synset(f"{pos}{offset}", lemmas, definition, examples, hypernyms)


_PARSED: dict[tuple, list[Synset]] = {}  # WordNet folders already parsed by this process


def load_wordnet(folder: str | Path | None = None) -> list[Synset]:
    """Every synset with a definition; a folder parsed before by this process, unchanged since, is not parsed
    again (a new list is returned each time)."""
    folder = Path(folder) if folder else wordnet_dir()
    stamps = []
    for name in POS_FILES.values():
        try:
            stat = (folder / name).stat()
        except OSError as exc:
            raise DataError(f"{folder / name}: cannot read WordNet ({exc})") from exc
        stamps.append((str((folder / name).resolve()), stat.st_size, stat.st_mtime_ns))
    key = tuple(stamps)
    if key not in _PARSED:
        _PARSED.clear()
        _PARSED[key] = _parse_wordnet(folder)
    return list(_PARSED[key])


def _parse_wordnet(folder: Path) -> list[Synset]:
    synsets = []
    for pos, name in POS_FILES.items():
        path = folder / name
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if line.startswith("  "):  # licence header
                    continue
                try:
                    synset = parse_data_line(line.rstrip("\n"), pos)
                except (IndexError, ValueError) as exc:
                    raise DataError(f"{path}:{number}: not a WordNet data line ({exc})") from exc
                if synset.definition:
                    synsets.append(synset)
    return synsets


@dataclass
class RetrievalSplit:
    """Queries with one relevant document each (``relevant[i]`` indexes ``corpus``)."""

    name: str
    queries: list[str]
    corpus: list[str]
    relevant: list[int]


@dataclass
class WordNetSplits:
    train: list[Synset]
    held_out: list[Synset]
    distractors: list[Synset]

    def gloss_to_lemma(self, n_docs: int = 5000) -> RetrievalSplit:
        docs = [s.lemma_string for s in self.held_out] + [s.lemma_string for s in self.distractors]
        return RetrievalSplit(
            "gloss→lemma", [s.definition for s in self.held_out], docs[:n_docs], list(range(len(self.held_out)))
        )

    def example_to_definition(self, n_docs: int = 5000) -> RetrievalSplit:
        with_examples = [i for i, s in enumerate(self.held_out) if s.examples]
        docs = [s.definition for s in self.held_out] + [s.definition for s in self.distractors]
        queries = [self.held_out[i].examples[0] for i in with_examples]
        return RetrievalSplit("example→definition", queries, docs[:n_docs], with_examples)


def split_wordnet(synsets: list[Synset], n_held_out: int = 1000, n_docs: int = 5000, seed: int = 0) -> WordNetSplits:
    """Held-out synsets (distinct lemma strings), distractors, and the training synsets that share no lemma
    with either the held-out synsets or one another's duplicate strings."""
    rng = random.Random(seed)
    order = list(range(len(synsets)))
    rng.shuffle(order)
    held, held_words, held_strings = [], set(), set()
    for i in order:
        s = synsets[i]
        if len(held) == n_held_out:
            break
        if s.lemma_string.lower() in held_strings:
            continue
        held.append(s)
        held_strings.add(s.lemma_string.lower())
        held_words.update(w.lower() for w in s.lemmas)
    free = [s for s in synsets if not held_words.intersection(w.lower() for w in s.lemmas)]
    rng.shuffle(free)
    distractors, seen = [], set(held_strings)
    for s in free:
        if len(distractors) == n_docs - len(held):
            break
        if s.lemma_string.lower() not in seen:
            distractors.append(s)
            seen.add(s.lemma_string.lower())
    return WordNetSplits(free, held, distractors)


def wordnet_triplets(train: list[Synset], seed: int = 0) -> list[Triplet]:
    """definition → lemma string, example → definition, lemma → definition; negatives from siblings."""
    rng = random.Random(seed)
    children: dict[str, list[Synset]] = {}
    for s in train:
        for h in s.hypernyms:
            children.setdefault(h, []).append(s)

    def sibling(s: Synset) -> Synset:
        pool = [c for h in s.hypernyms for c in children.get(h, []) if c.id != s.id]
        return rng.choice(pool) if pool else rng.choice(train)

    triplets = []
    for s in train:
        neg = sibling(s)
        triplets.append(Triplet(s.definition, s.lemma_string, neg.lemma_string))
        if s.examples:
            triplets.append(Triplet(rng.choice(s.examples), s.definition, neg.definition))
        triplets.append(Triplet(rng.choice(s.lemmas), s.definition, neg.definition))
    rng.shuffle(triplets)
    return triplets


def jsonl_rows(path: str | Path, flag: str) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for each non-blank line of a JSONL file, ``where`` being ``path:line`` for messages;
    a file that cannot be read, or a line that is not JSON, is one ``DataError`` naming it."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{flag} {path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None


def load_triplets_jsonl(path: str | Path) -> list[Triplet]:
    """``{"anchor": ..., "positive": ...[, "negative": ...]}`` per line; a bad line is named. A side is a text or
    a dict of ``text``/``image``/``audio``/``video`` whose media are files (relative to the JSONL's folder)."""
    triplets = []
    for where, row in jsonl_rows(path, "--data"):
        if not isinstance(row, dict):
            raise DataError(f"{where}: not a JSON object")
        sides = {
            key: _side(row.get(key), Path(path).parent, f"{where}: field '{key}'") for key in ("anchor", "positive")
        }
        negative = row.get("negative")
        if negative is not None:
            negative = _side(negative, Path(path).parent, f"{where}: field 'negative'")
        triplets.append(Triplet(sides["anchor"], sides["positive"], negative))
    if not triplets:
        raise DataError(f"{path}: no triplets")
    return triplets


MEDIA_KEYS = ("text", "image", "audio", "video")


def _side(value, folder: Path, where: str):
    """A non-empty text, or ``{"image": "a.png", ...}`` with its files made absolute and checked."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where} is an empty string")
        return value
    if not isinstance(value, dict) or not value:
        raise DataError(f"{where} is missing or not a non-empty string or object")
    unknown = sorted(set(value) - set(MEDIA_KEYS))
    if unknown:
        raise DataError(f"{where}: unknown key '{unknown[0]}'; valid: {', '.join(MEDIA_KEYS)}")
    side = {}
    for key, part in value.items():
        if not isinstance(part, str) or not part.strip():
            raise DataError(f"{where}: '{key}' must be a non-empty string")
        if key != "text":
            file = folder / part
            if not file.is_file():
                raise DataError(f"{where}: '{key}' file {file} does not exist")
            part = str(file.resolve())
        side[key] = part
    return side["text"] if set(side) == {"text"} else side


def wordnet_text(synsets: list[Synset]) -> list[str]:
    """Dictionary-style lines for generative pre-training (GRSL): 'lemma string: definition. "example"'."""
    lines = []
    for s in synsets:
        line = f"{s.lemma_string}: {s.definition}."
        if s.examples:
            line += " " + " ".join(f'"{e}"' for e in s.examples)
        lines.append(line)
    return lines
