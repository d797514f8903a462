import json

import pytest

from replab.diting.labelstudio import load_labelstudio
from replab.errors import DataError


def _task(task_id, instruction, choices_by_annotator, model="llama3:70b"):
    return {
        "id": task_id,
        "annotations": [
            {"id": 100 + i, "was_cancelled": False, "result": [
                {"from_name": name, "value": {"choices": [f"{score}分"]}, "type": "choices"}
                for name, score in zip(("term_appropriateness", "localization_strategy", "fluency"), choices)
            ]}
            for i, choices in enumerate(choices_by_annotator)
        ],
        "data": {"model": model, "instruction": instruction, "model_output": "Answer: He is meticulous.",
                 "ground_truth": "He was truly careful."},
    }  # fmt: skip


def test_official_export_shape(tmp_path, capsys):
    tasks = [
        _task(2, '请将源语言文本翻译成目标语言文本,其中"心细如发"是成语。 源语言:中文 目标语言:英文。 '
                 "文本:<异世邪君><第三十八章><第10句>", [(0, 1, 2), (1, 1, 2)]),
        _task(5, "请将源语言文本翻译成目标语言文本,其中“凶卦”是专有名词。 句子:他看着那一卦，脸色大变。", [(2, 2, 1)]),
        _task(7, "根据上下文,请将源语言文本翻译成目标语言文本,并且与上下文时态保持一致。 "
                 "上下文:<书><第24章><第3句>", [(1, 1, 1)]),
    ]  # fmt: skip
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False))
    items = load_labelstudio(path)
    said = capsys.readouterr().err
    assert [i.dimension for i in items] == ["idiom", "terminology", "tense"]
    assert items[0].key_phrase == "心细如发" and items[1].key_phrase == "凶卦"
    assert items[0].human == {"llama3:70b": {"S": 0.5, "G1": 1.0, "G2": 2.0}}
    assert items[0].candidates == {"llama3:70b": "He is meticulous."}
    assert items[0].source.startswith("[source withheld") and items[1].source == "他看着那一卦，脸色大变。"
    assert items[0].reference == "He was truly careful."
    assert "no source text" in said and "2 of 3" in said  # a notice in words, not a Python warning
    load_labelstudio(path)
    assert "no source text" not in capsys.readouterr().err  # said once per process


def test_bad_choices_and_fields_are_named(tmp_path):
    task = _task(9, '其中"画蛇添足"是成语。 文本:他画蛇添足。', [(2, 2, 2)])
    task["annotations"][0]["result"][0]["value"]["choices"] = ["3分"]
    (tmp_path / "a.json").write_text(json.dumps([task], ensure_ascii=False))
    with pytest.raises(DataError, match=r"task 9: choice '3分'"):
        load_labelstudio(tmp_path / "a.json")
    task["annotations"][0]["result"][0].update(from_name="mystery", value={"choices": ["1分"]})
    (tmp_path / "b.json").write_text(json.dumps([task], ensure_ascii=False))
    with pytest.raises(DataError, match="unknown annotation field 'mystery'"):
        load_labelstudio(tmp_path / "b.json")
