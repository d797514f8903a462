"""replab embedders and all-MiniLM-L6-v2 under real mteb 2.x, side by side, on local tasks built from the
held-out WordNet synsets (never trained on): gloss → lemma retrieval and example → definition retrieval
(text → text) and an STS set whose scores are derived from WordNet (same synset 5, sibling synsets 2.5,
unrelated 0). replab models go through ``MTEBModel``; MiniLM through mteb's own sentence-transformers wrapper.

    python benchmarks/mteb_side_by_side.py --model smollm2 --model runs/emb [--queries 300 --docs 1000]
"""

from __future__ import annotations

import argparse
import random
import time

import mteb


def wordnet_tasks(queries: int, docs: int, seed: int = 0) -> list:
    from replab.embed.evaluate import wordnet_splits
    from replab.embed.mteb_tasks import local_retrieval, local_sts

    splits = wordnet_splits(held_out=1000, docs=5000, seed=seed)
    tasks = []
    for name, split in (("WordNetGlossToLemma", splits.gloss_to_lemma(5000)),
                        ("WordNetExampleToDefinition", splits.example_to_definition(5000))):  # fmt: skip
        keep = list(range(min(queries, len(split.queries))))
        wanted = {split.relevant[i] for i in keep}
        corpus_ids = sorted(wanted | set(range(min(docs, len(split.corpus)))))
        tasks.append(local_retrieval(name, {f"q{i}": split.queries[i] for i in keep},
                                     {f"d{j}": split.corpus[j] for j in corpus_ids},
                                     {f"q{i}": {f"d{split.relevant[i]}": 1} for i in keep}))  # fmt: skip
    rng = random.Random(seed)
    held = splits.held_out[:queries]
    pairs, scores = [], []
    for s in held:
        pairs.append((s.definition, s.lemma_string))
        scores.append(5.0)
        other = rng.choice(held)
        if other is not s:
            pairs.append((s.definition, other.lemma_string))
            scores.append(0.0)
    tasks.append(local_sts("WordNetDefinitionLemmaSTS", pairs, scores))
    return tasks


def wrap(name: str):
    if name == "minilm":
        from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

        from replab.embed.evaluate import minilm_folder

        return SentenceTransformerEncoderWrapper(str(minilm_folder()), device="cpu")
    from replab.embed.evaluate import load_encoder
    from replab.embed.mteb_model import MTEBModel

    return MTEBModel(load_encoder(name), name=f"replab/{name.rstrip('/').split('/')[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", action="append", default=[], help="smollm2, a run folder, minilm (always added)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--docs", type=int, default=1000)
    args = parser.parse_args()
    tasks = wordnet_tasks(args.queries, args.docs)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}; mteb {mteb.__version__}; {args.queries} queries, {args.docs}+ documents per retrieval task\n")
    print("| model | " + " | ".join(t.metadata.name for t in tasks) + " |")
    print("|---|" + "---|" * len(tasks))
    for name in [*args.model, "minilm"]:
        model = wrap(name)
        cells = []
        for task in tasks:
            start = time.perf_counter()
            result = mteb.evaluate(model, tasks=[task], cache=None, show_progress_bar=False, co2_tracker=False)
            score = result.task_results[0].get_score()
            cells.append(f"{score:.3f} ({time.perf_counter() - start:.0f} s)")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
