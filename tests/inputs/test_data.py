"""Reading the data and splitting it three ways (train / search / confirm) with no shared phrase."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from autotune.errors import DataError, SpaceError
from autotune.inputs.data import MIN_SPLIT_ROWS, Example, PromptFormat, TaskData, load_task_data, normalize
from autotune.load.space_file import load_space
from autotune.space.schema import DataSpec
from tests.conftest import TINY_DATA, tiny_raw, write_space

TEMPLATE = "### Text: {phrase}\n### The tone is:\n{tone}"
LABELS = ("fear", "joy", "sadness", "surprise")


def spec(path: Path | str, **kw: object) -> DataSpec:
    return DataSpec.model_validate({"path": str(path), "template": TEMPLATE, **kw})


def rows(per_label: dict[str, int], start: int = 0) -> list[dict[str, str]]:
    """Distinct phrases: ``per_label[label]`` rows of each label, numbered from ``start``."""
    return [
        {"phrase": f"{label} phrase number {start + i}", "tone": label}
        for label, n in per_label.items()
        for i in range(n)
    ]


def write(path: Path, items: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return path


def even(n: int) -> dict[str, int]:
    return dict.fromkeys(LABELS, n)


def phrases(examples: tuple[Example, ...]) -> set[str]:
    return {normalize(e.text) for e in examples}


def counts(examples: tuple[Example, ...]) -> Counter[str]:
    return Counter(e.label for e in examples)


def test_three_disjoint_stratified_splits(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", rows(even(50)))  # 200 rows
    data = load_task_data(spec(f), tmp_path)
    assert (len(data.train), len(data.eval), len(data.confirm)) == (120, 40, 40)
    assert counts(data.eval) == counts(data.confirm) == Counter(even(10))
    assert counts(data.train) == Counter(even(30))
    assert not phrases(data.train) & phrases(data.eval)
    assert not phrases(data.train) & phrases(data.confirm)
    assert not phrases(data.eval) & phrases(data.confirm)
    assert len(phrases(data.train) | phrases(data.eval) | phrases(data.confirm)) == 200
    wider = load_task_data(spec(f, eval={"fraction": 0.3}, confirm={"fraction": 0.15}), tmp_path)
    assert (len(wider.train), len(wider.eval), len(wider.confirm)) == (110, 60, 30)


def test_proportions_and_one_of_each_label(tmp_path: Path) -> None:
    # A label of 3 phrases is too small for its share (0.3 of a row) in either split: it still
    # gets one row in each, and training keeps one.
    f = write(tmp_path / "d.jsonl", rows({"joy": 105, "fear": 105, "surprise": 3}))
    data = load_task_data(spec(f, eval={"fraction": 0.1}, confirm={"fraction": 0.1}), tmp_path)
    for split in (data.eval, data.confirm):
        assert len(split) == 21
        assert counts(split) == Counter({"joy": 10, "fear": 10, "surprise": 1})
    assert counts(data.train)["surprise"] == 1
    f = write(tmp_path / "u.jsonl", rows({"joy": 148, "fear": 57, "sadness": 33, "surprise": 12}))
    data = load_task_data(spec(f), tmp_path)  # 250 rows: 50 each for search and confirm
    for split in (data.eval, data.confirm):  # shares 29.6, 11.4, 6.6, 2.4: the largest remainders
        assert counts(split) == Counter({"joy": 30, "fear": 11, "sadness": 7, "surprise": 2})


def test_seed_decides_the_splits_and_the_fingerprint(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", rows(even(40)))
    data = load_task_data(spec(f, eval={"seed": 3}), tmp_path)
    again = load_task_data(spec(f, eval={"seed": 3}), tmp_path)
    assert (again.train, again.eval, again.confirm) == (data.train, data.eval, data.confirm)
    assert again.fingerprint == data.fingerprint
    other = load_task_data(spec(f, eval={"seed": 4}), tmp_path)
    assert phrases(other.eval) != phrases(data.eval)
    assert phrases(other.confirm) != phrases(data.confirm)
    assert other.fingerprint != data.fingerprint
    # Only the confirm split changes: the search split stays, the fingerprint does not.
    wider = load_task_data(spec(f, eval={"seed": 3}, confirm={"fraction": 0.3}), tmp_path)
    assert wider.eval == data.eval and wider.fingerprint != data.fingerprint


def test_fingerprint_covers_the_confirm_file(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", rows(even(30)))
    c = write(tmp_path / "c.jsonl", rows(even(6), start=100))
    data = load_task_data(spec(f, confirm={"path": "c.jsonl"}), tmp_path)
    assert [e.text for e in data.confirm] == [r["phrase"] for r in rows(even(6), start=100)]
    assert len(data.train) == 96 and len(data.eval) == 24  # the search split: 0.2 of 120
    write(c, rows(even(6), start=200))
    assert load_task_data(spec(f, confirm={"path": "c.jsonl"}), tmp_path).fingerprint != data.fingerprint


def test_a_phrase_stays_in_one_split(tmp_path: Path) -> None:
    assert normalize("  I  WON\tthe Cup \n") == "i won the cup"
    items = rows(even(40))
    for i in range(0, 160, 4):  # 40 phrases also appear twice more, spelled differently
        phrase, tone = items[i]["phrase"], items[i]["tone"]
        items += [
            {"phrase": f"  {phrase.upper()} ", "tone": tone},
            {"phrase": phrase.replace(" ", "   "), "tone": tone},
        ]
    f = write(tmp_path / "d.jsonl", items)
    for seed in range(5):
        data = load_task_data(spec(f, eval={"seed": seed}), tmp_path)
        assert len(data.train) + len(data.eval) + len(data.confirm) == 240
        assert not phrases(data.train) & phrases(data.eval)
        assert not phrases(data.train) & phrases(data.confirm)
        assert not phrases(data.eval) & phrases(data.confirm)


def _overlap_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    train = write(tmp_path / "train.jsonl", rows(even(30)))
    dev = rows(even(6), start=100)
    dev[2]["phrase"] = "  JOY phrase   number 7 "  # row 3: the same phrase as a training row
    dev[9]["phrase"] = "joy phrase number 8"
    test = rows(even(6), start=200)
    test[4]["phrase"] = dev[0]["phrase"].upper()  # row 5: a phrase of the search file
    return train, write(tmp_path / "dev.jsonl", dev), write(tmp_path / "test.jsonl", test)


def test_overlap_between_files_is_refused(tmp_path: Path) -> None:
    train, dev, test = _overlap_files(tmp_path)
    with pytest.raises(DataError) as info:
        load_task_data(spec(train, eval={"path": "dev.jsonl"}), tmp_path)
    msg = str(info.value)
    assert msg.startswith(f"data.eval.path: {dev} row 3 ('JOY phrase   number 7') is also in ")
    assert "data.path (train.jsonl); 2 of its 24 rows overlap: remove them from one" in msg
    assert "\n" not in msg
    with pytest.raises(DataError, match=r"^data\.confirm\.path: .*dev\.jsonl row 3 .* data\.path"):
        load_task_data(spec(train, confirm={"path": "dev.jsonl"}), tmp_path)
    write(dev, rows(even(6), start=100))  # no longer overlaps training
    with pytest.raises(DataError) as info:
        load_task_data(spec(train, eval={"path": "dev.jsonl"}, confirm={"path": "test.jsonl"}), tmp_path)
    msg = str(info.value)
    assert msg.startswith(f"data.confirm.path: {test} row 5 ('FEAR PHRASE NUMBER 100') is also in")
    assert "data.eval.path (dev.jsonl); 1 of its 24 rows overlap" in msg
    write(test, rows(even(6), start=200))
    data = load_task_data(spec(train, eval={"path": "dev.jsonl"}, confirm={"path": "test.jsonl"}), tmp_path)
    assert len(data.train) == 120  # every row of data.path trains when both splits are files


def test_long_phrase_is_shortened_in_the_message(tmp_path: Path) -> None:
    train = rows(even(30))
    train[0]["phrase"] = "a rather long phrase that goes on and on well past forty characters"
    write(tmp_path / "t.jsonl", train)
    write(tmp_path / "e.jsonl", [train[0], *rows(even(6), start=100)])
    with pytest.raises(DataError, match=r"row 1 \('a rather long phrase that goes on and o…'\)"):
        load_task_data(spec(tmp_path / "t.jsonl", eval={"path": "e.jsonl"}), tmp_path)


def test_too_small_splits_name_the_key(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", rows(even(25)))  # 100 rows
    with pytest.raises(DataError) as info:
        load_task_data(spec(f, eval={"fraction": 0.1}), tmp_path)
    msg = str(info.value)
    assert msg.startswith("data.eval: the search split would have 10 rows (0.1 of data.path's 100 ")
    assert "raise data.eval.fraction, or give a file of 20 or more rows as data.eval.path" in msg
    assert "default" not in msg  # the fraction was set: nothing was raised
    with pytest.raises(DataError, match=r"^data\.confirm: the confirm split would have 15 rows"):
        load_task_data(spec(f, confirm={"fraction": 0.15}), tmp_path)
    small = write(tmp_path / "c.jsonl", rows(even(4), start=500))  # 16 rows
    with pytest.raises(DataError) as info:
        load_task_data(spec(f, confirm={"path": "c.jsonl"}), tmp_path)
    assert str(info.value).startswith(
        f"data.confirm.path: {small} has 16 rows for the confirm split; fewer than 20 rows"
    )
    write(small, rows(even(5), start=500))  # 20 rows is enough
    assert len(load_task_data(spec(f, confirm={"path": "c.jsonl"}), tmp_path).confirm) == MIN_SPLIT_ROWS


def test_small_data_raises_the_default_fraction(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", rows(even(20)))  # 80 rows: 0.2 would give 16
    data = load_task_data(spec(f), tmp_path)
    assert (len(data.train), len(data.eval), len(data.confirm)) == (40, 20, 20)
    assert counts(data.eval) == counts(data.confirm) == Counter(even(5))
    data = load_task_data(spec(f, eval={"fraction": 0.25}), tmp_path)  # only the default is raised
    assert (len(data.train), len(data.eval), len(data.confirm)) == (40, 20, 20)
    with pytest.raises(DataError, match=r"^data\.confirm: the confirm split would have 16 rows"):
        load_task_data(spec(f, confirm={"fraction": 0.2}), tmp_path)  # set explicitly: kept
    f = write(tmp_path / "d.jsonl", rows(even(18)))  # 72 rows: 20 + 20 would leave training 32 < 36
    with pytest.raises(DataError) as info:
        load_task_data(spec(f), tmp_path)
    assert str(info.value).startswith(
        "data.eval: the search split would have 14 rows (0.2 of data.path's 72 distinct phrases; "
        "the default is raised to 20 rows only while training keeps half)"
    )
    with pytest.raises(DataError, match=r"^data\.eval: the search split would have 6 rows"):
        load_task_data(spec(TINY_DATA), Path("."))  # 32 rows are too few for any split


def test_caps_are_stratified_and_drawn_from_each_split(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", rows(even(50)))
    full = load_task_data(spec(f), tmp_path)
    data = load_task_data(spec(f, max_eval_rows=12, max_train_rows=64), tmp_path)
    assert (len(data.train), len(data.eval), len(data.confirm)) == (64, 12, 12)
    assert counts(data.train) == Counter(even(16))
    assert counts(data.eval) == counts(data.confirm) == Counter(even(3))
    assert set(data.eval) <= set(full.eval) and set(data.confirm) <= set(full.confirm)
    assert set(data.train) <= set(full.train)
    assert data.fingerprint != full.fingerprint


def test_every_label_trains(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", rows({"joy": 40, "fear": 40}))
    write(tmp_path / "e.jsonl", rows({"joy": 10, "fear": 5, "sadness": 5}, start=100))
    with pytest.raises(DataError, match=r"label\(s\) \['sadness'\] appear only in the search or confirm"):
        load_task_data(spec(train, eval={"path": "e.jsonl"}), tmp_path)


def _space_error(tmp_path: Path, **data: object) -> tuple[str, str]:
    """The loader's message for the tiny space with ``data`` changed, and the YAML line it names."""
    raw = tiny_raw()
    raw["data"].update(data)
    path = write_space(tmp_path / "s.yaml", raw)
    with pytest.raises(SpaceError) as info:
        load_space(str(path))
    msg = str(info.value)
    line = int(msg.removeprefix(f"{path} line ").split(":")[0])
    return msg.split(": ", 1)[1], path.read_text().splitlines()[line - 1].strip()


def test_split_keys_are_validated_with_their_line(tmp_path: Path) -> None:
    # The loader names the first line of a mapping the error is about.
    msg, line = _space_error(tmp_path, eval={"fraction": 0.3, "path": "dev.jsonl"})
    assert (msg, line) == ("data.eval: give fraction or path, not both", "fraction: 0.3")
    msg, line = _space_error(tmp_path, confirm={"path": "dev.jsonl", "fraction": 0.2})
    assert (msg, line) == ("data.confirm: give fraction or path, not both", "path: dev.jsonl")
    msg, line = _space_error(tmp_path, confirm={"fraction": 1.0})
    assert (msg, line) == ("data.confirm.fraction: Input should be less than 1", "fraction: 1.0")
    msg, _ = _space_error(tmp_path, confirm={"seed": 1})
    assert msg.startswith("data.confirm.seed: unknown key")
    msg, line = _space_error(tmp_path, eval={"fraction": 0.5}, confirm={"fraction": 0.3})
    assert line.startswith("path: ")  # data.path, the first key of data
    assert msg == (
        "data: eval.fraction + confirm.fraction is 0.8; keep it below 0.8 so that training keeps "
        "rows (or give a split as a file with path)"
    )
    raw = tiny_raw()
    raw["data"].update(eval={"path": "dev.jsonl"}, confirm={"fraction": 0.7})  # the file's fraction is unused
    assert load_space(str(write_space(tmp_path / "ok.yaml", raw))).space.data.confirm.fraction == 0.7


def test_task_data_keeps_positional_callers() -> None:
    data = TaskData((), (), ("a", "b"), PromptFormat("t", "l", "{t}{l}", None), "fp", "x")
    assert data.confirm == ()


def test_prompt_ends_where_the_label_starts() -> None:
    fmt = PromptFormat("phrase", "tone", TEMPLATE, None)
    assert fmt.render("I won!") == "### Text: I won!\n### The tone is:\n"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data file not found"):
        load_task_data(spec("nope.jsonl"), tmp_path)


def test_missing_column(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"text": "a", "tone": "joy"}) + "\n")
    with pytest.raises(DataError, match=r"no column 'phrase' \(columns: text, tone\)"):
        load_task_data(spec(f), tmp_path)


def test_unknown_label_names_the_row(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    items = [{"phrase": "a", "tone": "joy"}, {"phrase": "b", "tone": "anger"}]
    f.write_text("".join(json.dumps(r) + "\n" for r in items))
    with pytest.raises(DataError, match=r"row 2: label 'anger' is not in data\.labels"):
        load_task_data(spec(f, labels=["joy", "fear"]), tmp_path)


def test_empty_text_and_bad_json(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"phrase": "  ", "tone": "joy"}) + "\n")
    with pytest.raises(DataError, match="row 1: empty or missing 'phrase'"):
        load_task_data(spec(f), tmp_path)
    f.write_text('{"phrase": "a", "tone": \n')
    with pytest.raises(DataError, match="cannot be read as json"):
        load_task_data(spec(f), tmp_path)


def test_csv_and_eval_file(tmp_path: Path) -> None:
    train = tmp_path / "t.csv"
    train.write_text("phrase,tone\n" + "".join(f"{r['phrase']},{r['tone']}\n" for r in rows(even(30))))
    ev = tmp_path / "e.csv"
    ev.write_text("phrase,tone\n" + "".join(f"{r['phrase']},{r['tone']}\n" for r in rows(even(5), 100)))
    data = load_task_data(spec(train, eval={"path": str(ev)}), tmp_path)
    assert [e.text for e in data.eval] == [r["phrase"] for r in rows(even(5), 100)]
    assert (len(data.train), len(data.confirm)) == (96, 24)  # the confirm split: 0.2 of t.csv


def test_a_template_column_the_data_lacks_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", rows(even(30)))
    with pytest.raises(DataError) as err:
        load_task_data(spec(f, template="{speaker} says: {phrase}\n### The tone is:\n{tone}"), tmp_path)
    assert str(err.value).startswith("data.template names {speaker}, but ")
    assert f"{f} has no column 'speaker' (columns: phrase, tone)" in str(err.value)
    chat = DataSpec.model_validate({"path": str(f), "chat": {"user": "{phrase} ({mood})"}})
    with pytest.raises(DataError, match=r"data\.chat\.user names \{mood\}"):
        load_task_data(chat, tmp_path)
    # braces that name no column (a JSON example in the prompt) are the prompt's own text
    load_task_data(spec(f, template='Answer as {"tone": ...}. {phrase}\n{tone}'), tmp_path)


def test_data_of_a_single_label_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", rows({"joy": 120}))
    with pytest.raises(DataError, match=rf"{re.escape(str(f))}: every row has the label 'joy'; classif"):
        load_task_data(spec(f), tmp_path)
    with pytest.raises(DataError, match="every row has the label 'joy'"):
        load_task_data(spec(f, labels=["joy", "fear"]), tmp_path)
    free = DataSpec.model_validate({"path": str(f), "template": "Q: {phrase}\nA: {tone}"})
    assert len(load_task_data(free, tmp_path, "generation").train) > 0  # answers need no second label


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_invalid_utf8_names_the_file_and_line(tmp_path: Path, suffix: str) -> None:
    items = rows(even(30))
    if suffix == ".csv":
        text = "phrase,tone\n" + "".join(f"{r['phrase']},{r['tone']}\n" for r in items)
    else:
        text = "".join(json.dumps(r) + "\n" for r in items)
    lines = text.encode().splitlines(keepends=True)
    lines[6] = lines[6].replace(b"phrase", b"phr\xff\xfease", 1)
    f = tmp_path / f"d{suffix}"
    f.write_bytes(b"".join(lines))
    with pytest.raises(DataError) as err:
        load_task_data(spec(f), tmp_path)
    where = rf"{re.escape(str(f))} line 7 \(byte \d+\)"
    assert re.fullmatch(rf"{where}: not valid UTF-8 \(.*\); save the file as UTF-8.*", str(err.value))
