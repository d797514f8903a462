"""The official DITING release as it is (a Label Studio export with the quirks the real file has, written
here by the test), string metrics scored straight from the file, and a meta-evaluation that never drops
pairs quietly."""

import json
import os
from pathlib import Path

import pytest

from replab.cli import main
from replab.diting import pipeline
from replab.diting.labelstudio import load_labelstudio
from replab.errors import DataError

FIELDS = ("term_appropriateness", "localization_strategy", "fluency")
OUTPUTS = ["He was careful.", "Answer: He saw the omen and went pale.", "They laughed at him.", "She left.",
           "The boy ran home.", "It was raining hard.", "He nodded twice.", "We will see."]  # fmt: skip


def _task(task_id, instruction, annotators, output="He was careful.", comment=None):
    annotations = []
    for i, scores in enumerate(annotators):
        result = [{"from_name": f, "to_name": "model_output", "type": "choices", "value": {"choices": [f"{s}分"]}}
                  for f, s in zip(FIELDS, scores)]  # fmt: skip
        if comment and i == 0:
            result.append({"from_name": "comments", "to_name": "model_output", "type": "textarea",
                           "value": {"text": [comment]}})  # fmt: skip
        annotations.append({"id": 100 * task_id + i, "was_cancelled": False, "result": result})
    return {"id": task_id, "annotations": annotations,
            "data": {"model": "llama3:70b", "instruction": instruction, "model_output": output,
                     "ground_truth": "He was truly careful, and he went pale."}}  # fmt: skip


def _export(tmp_path: Path) -> Path:
    idiom = '请将源语言文本翻译成目标语言文本,其中"心细如发"是成语。 源语言:中文 目标语言:英文。 文本:<书><第10句>'
    zero = "根据上下文,请将源语言文本翻译成目标语言文本,在文本中出现主语缺省的现象。上下文:<书><第31句>"
    term = '请将源语言文本翻译成目标语言文本,其中"凶卦"是专有名词。 句子:<东北往事><第1章><第2句>'
    tasks = []
    for k, output in enumerate(OUTPUTS):
        instruction = (idiom, zero, term)[k % 3]
        annotators = [((k + 1) % 3, k % 3, 2)] if k % 2 else [(k % 3, 1, 2), ((k + 2) % 3, 2, 1)]  # one or two
        tasks.append(_task(k + 1, instruction, annotators, output, comment="模型漏译" if k == 2 else None))
    tasks.append(_task(99, term, [(1, 1, 1)], output=None))  # a task without a model output
    path = tmp_path / "data-sample.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False))
    return path


def test_the_release_loads_as_it_is(tmp_path, capsys):
    items = load_labelstudio(_export(tmp_path))
    assert len(items) == 9 and [i.dimension for i in items[:3]] == ["idiom", "zero_pronoun", "terminology"]
    assert items[2].notes == {"comments": ["模型漏译"]}  # the annotator's comment kept, not refused
    assert items[1].human["llama3:70b"] == {"S": 2.0, "G1": 1.0, "G2": 2.0}  # a task with one annotator
    assert items[8].candidates == {} and "no model output" in capsys.readouterr().err


def test_string_metrics_on_the_file_then_meta_with_n(tmp_path, capsys, monkeypatch):
    data, run = _export(tmp_path), tmp_path / "d"
    assert main(["diting", "score", "--data", str(data), "--out", str(run), "--metrics", "bleu,chrf"]) == 0
    monkeypatch.chdir(tmp_path.parent)  # meta from another directory: the run recorded the data's absolute path
    assert main(["diting", "meta", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    table = json.loads((run / "meta.json").read_text())
    assert table["bleu"]["n"] == 8 and table["chrf"]["n"] == 8  # the task without output has no pair
    assert "bleu" in out and " 8 " in out and (run / "meta.png").exists()
    assert (run / "config.yaml").exists() is False  # the data run holds scores; each job below is a Run
    assert (run / "scores" / "bleu+chrf" / "config.yaml").exists() and (run / "meta" / "footprint.json").exists()


def _scores_file(run: Path, name: str, records: list[dict]) -> None:
    folder = run / "scores" / name
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_one_failed_judge_item_leaves_the_string_metrics_and_their_n_unchanged(tmp_path):
    data, run = _export(tmp_path), tmp_path / "d"
    pipeline.score(run, ["bleu", "chrf"], data=data)
    pipeline.meta(run)
    before = json.loads((run / "meta.json").read_text())
    ids = [f"{k}::llama3:70b" for k in range(1, 9)]
    judged = [{"id": i, "scores": {"single": float(k % 7)}, "error": None} for k, i in enumerate(ids[1:])]
    _scores_file(run, "single", [{"id": ids[0], "scores": {}, "error": "BackendError: gave up"}, *judged])
    text, _ = pipeline.meta(run)
    after = json.loads((run / "meta.json").read_text())
    for metric in ("bleu", "chrf"):
        assert after[metric] == before[metric]  # same n, same values, same intervals
    assert after["single"]["n"] == 7 and after["_missing"]["single"] == {"single: BackendError": 1}
    assert "common subset: the 7 pairs" in text and after["_common_subset"]["bleu"]["n"] == 7


def test_a_missing_reference_reduces_only_that_metrics_n(tmp_path):
    data, run = _export(tmp_path), tmp_path / "d"
    tasks = json.loads(data.read_text())
    tasks[0]["data"]["ground_truth"] = ""
    data.write_text(json.dumps(tasks, ensure_ascii=False))
    pipeline.score(run, ["bleu", "chrf"], data=data)
    ids = [f"{k}::llama3:70b" for k in range(1, 9)]
    _scores_file(
        run, "single", [{"id": i, "scores": {"single": float(k % 5)}, "error": None} for k, i in enumerate(ids)]
    )
    pipeline.meta(run)
    table = json.loads((run / "meta.json").read_text())
    assert table["bleu"]["n"] == 7 and table["chrf"]["n"] == 7 and table["single"]["n"] == 8
    assert table["_missing"]["bleu"] == {"no reference translation": 1}


def test_an_empty_result_is_an_error_and_a_missing_run_is_named(tmp_path):
    data, run = _export(tmp_path), tmp_path / "d"
    pipeline.score(run, ["bleu"], data=data, limit=2)
    with pytest.raises(DataError, match="no metric has 3 or more scored pairs"):
        pipeline.meta(run)
    assert main(["judge", "score", "--run", str(tmp_path / "nowhere"), "--metrics", "bleu"]) == 2


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("REPLAB_DITING_EXPORT"),
    reason="needs REPLAB_DITING_EXPORT: the user's download of the official data-sample.json (WHUNextGen/DITING)",
)
def test_the_official_release_when_given():
    """``REPLAB_DITING_EXPORT=/path/to/data-sample.json make test-slow``: the user's download of the release."""
    path = os.environ["REPLAB_DITING_EXPORT"]
    run = Path(os.environ.get("TMPDIR", "/tmp")) / "replab-diting-official"
    pipeline.score(run, ["bleu", "chrf"], data=path)
    text, _ = pipeline.meta(run)
    table = json.loads((run / "meta.json").read_text())
    assert table["bleu"]["n"] == 129 and table["chrf"]["n"] == 129
    assert table["bleu"]["spearman"]["low"] <= table["bleu"]["spearman"]["r"] <= table["bleu"]["spearman"]["high"]
