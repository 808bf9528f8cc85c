"""Every CLI verb, fed hostile inputs, ends in one of two ways: exit 0 with a valid result, or a
non-zero exit with one clean line on stderr (argparse's usage line allowed before it), never a
traceback and never an internal error (exit 3).

The inputs are drawn from a fixed seed, by class: mutated spaces, overrides, data files, output
and storage paths, Olive configs, a study's output folder and an exported model with records
cut or rewritten. The test prints the tally (class, verb, how it ended) that the issue asks for.
"""

from __future__ import annotations

import copy
import json
import random
import re
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from autotune.cli import main
from autotune.study.run_record import read_record
from tests.conftest import REPO, call_main, tiny_raw

pytestmark = [pytest.mark.slow, pytest.mark.integration]

OLIVE = Path(__file__).parents[1] / "olive" / "assets"
CLEAN = re.compile(r"^autotune( [a-z]+)?: (error|interrupted)")
HOSTILE: list[Any] = [
    None, True, 0, -1, 1, 2.5, -1e-9, 1e308, float("nan"), "", " ", "x", "../../etc/passwd",
    "{phrase}", "\x00", "é" * 50, [], [None], ["lora"], [[]], {}, {"low": 3, "high": 1},
    {"low": 0, "high": 10, "log": True}, {"low": 1, "high": 8, "step": 3, "log": True},
    {"choices": []}, {"metric": "nope"}, "int4", "cpu", "fp16", "all-linear",
]  # fmt: skip
CASES = 14  # per class and verb


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        out += _paths(v, (*prefix, k))
    return out


def _mutate(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_paths(doc))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(HOSTILE))
    return doc


def _quick_raw() -> dict[str, Any]:
    """The tiny space cut to one cheap trial: no fine-tune, fp32 build, few latency repeats."""
    raw = tiny_raw(chains=[["build"]], constraints=[])
    raw["passes"] = {"build": {"precision": "fp32"}}
    raw["data"]["path"] = str(REPO / "search_spaces" / "data" / "emotions.jsonl")
    raw["study"]["n_trials"] = 1
    return raw


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.bad: list[str] = []

    def assert_clean(self) -> None:
        bad, self.bad = self.bad, []
        assert not bad, "\n\n".join(bad)

    def check(
        self,
        capsys: pytest.CaptureFixture[str],
        what: str,
        argv: list[str],
        valid: Callable[[str], bool],
    ) -> None:
        """Run ``autotune ARGV`` and tally how it ended."""
        capsys.readouterr()
        rc = call_main(argv)
        out = capsys.readouterr()
        verb = argv[0] if argv and not argv[0].startswith("-") else "run"
        lines = [line for line in out.err.strip().splitlines() if not line.startswith(("usage:", " "))]
        if rc == 0 and valid(out.out):
            self.counts[(what, verb, "exit 0, valid result")] += 1
        elif rc in (1, 2) and len(lines) == 1 and CLEAN.match(lines[0]) and "Traceback" not in out.err:
            self.counts[(what, verb, f"exit {rc}, one line")] += 1
        else:
            self.bad.append(f"{what} {argv}: exit {rc}\nstdout: {out.out[-600:]}\nstderr: {out.err[-1500:]}")


@pytest.fixture(scope="module")
def tally() -> Any:
    t = Tally()
    yield t
    print("\nhostile CLI inputs (class, verb, ending): count")
    for key, n in sorted(t.counts.items()):
        print(f"  {' / '.join(key)}: {n}")
    print(f"  total: {sum(t.counts.values())}, wrong endings: {len(t.bad)}")


def _ran(out: Path) -> Callable[[str], bool]:
    def valid(_: str) -> bool:
        rows = (
            json.loads((out / "report.json").read_text())["rows"] if (out / "report.json").is_file() else []
        )
        return any(r["state"] == "complete" for r in rows)

    return valid


def test_mutated_spaces_and_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tally: Tally
) -> None:
    rng = random.Random(0)
    base = _quick_raw()
    keys = [".".join(map(str, p)) for p in _paths(base) if all(isinstance(k, str) for k in p)]
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(base))
    # one trial per run: a valid study section (study={} has the default n_trials) runs one, not 20
    one = ["--n-trials", "1", "--quiet"]
    for i in range(CASES):
        space = tmp_path / f"s{i}.yaml"
        space.write_text(yaml.safe_dump(_mutate(base, rng), allow_unicode=True))
        tally.check(capsys, "space", ["validate", str(space)], lambda s: "valid space" in s)
        out = tmp_path / f"out{i}"
        tally.check(capsys, "space", ["--space", str(space), "--out", str(out), *one], _ran(out))
        override = f"{rng.choice(keys)}={json.dumps(rng.choice(HOSTILE))}"
        tally.check(capsys, "override", ["validate", str(good), override], lambda s: "valid space" in s)
        out = tmp_path / f"over{i}"
        tally.check(capsys, "override", ["--space", str(good), "--out", str(out), *one, override], _ran(out))
    tally.assert_clean()


def test_hostile_data_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], tally: Tally) -> None:
    rng = random.Random(1)
    rows = (REPO / "search_spaces" / "data" / "emotions.jsonl").read_text().splitlines()[:120]
    junk = ["{", "[]", "null", '{"phrase": 3, "tone": "joy"}', '{"phrase": "ok"}', '{"tone": "joy"}',
            '{"phrase": "x", "tone": "anger"}', "\x00\x01", '{"phrase": "", "tone": "joy"}',
            "   "]  # fmt: skip
    for i in range(CASES):
        lines = list(rows)
        for _ in range(rng.randint(1, 4)):
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(junk))
        if rng.random() < 0.2:
            lines = lines[: rng.randint(0, 6)]
        data = tmp_path / f"d{i}.jsonl"
        data.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        raw = _quick_raw()
        raw["data"]["path"] = str(data)
        space = tmp_path / f"s{i}.yaml"
        space.write_text(yaml.safe_dump(raw))
        tally.check(capsys, "data file", ["validate", str(space)], lambda s: "valid space" in s)
        if i % 3 == 0:
            out = tmp_path / f"out{i}"
            tally.check(capsys, "data file", ["--space", str(space), "--out", str(out), "--quiet"], _ran(out))
    tally.assert_clean()


def test_hostile_paths_for_every_verb(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tally: Tally,
    tiny_study: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "" is the working directory: keep what it writes out of the checkout the tests run in
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "empty").mkdir()
    bad = [str(tmp_path / "afile"), str(tmp_path / "afile" / "sub"), "/proc/autotune/x", "",
           str(tmp_path / "empty"), str(tmp_path / "missing")]  # fmt: skip
    storages = ["postgresql://nobody@127.0.0.1:9/none", "sqlite:////proc/x/study.db", "journal:/proc/x/j",
                "mysql://x", "nonsense", f"sqlite:///{tmp_path / 'afile'}"]  # fmt: skip
    space = tmp_path / "good.yaml"
    space.write_text(yaml.safe_dump(_quick_raw()))
    study = tmp_path / "study"
    shutil.copytree(tiny_study, study)

    def dest_made(s: str) -> bool:
        return "exported" in s

    for p in bad:
        tally.check(capsys, "path", ["--space", str(space), "--out", p, "--quiet"], _ran(Path(p)))
        tally.check(
            capsys,
            "path",
            ["--space", str(space), "--cache", p, "--out", str(tmp_path / "o")],
            _ran(tmp_path / "o"),
        )
        tally.check(capsys, "path", ["report", p], lambda s: "trial" in s)
        tally.check(capsys, "path", ["export", p], dest_made)
        tally.check(capsys, "path", ["export", str(study), "--dest", p, "--trial", "0"], dest_made)
        tally.check(capsys, "path", ["predict", "--model", p, "a phrase"], lambda s: bool(s.strip()))
        tally.check(capsys, "path", ["cp", "tiny", p], lambda s: "copied" in s)
        tally.check(capsys, "path", ["validate", p], lambda s: "valid space" in s)
    for url in storages:
        tally.check(
            capsys,
            "storage",
            ["--space", str(space), "--storage", url, "--out", str(tmp_path / "u")],
            _ran(tmp_path / "u"),
        )
        tally.check(
            capsys, "storage", ["status", "--storage", url, "--study", "tiny-cpu"], lambda s: "trial" in s
        )
        tally.check(
            capsys,
            "storage",
            ["worker", "--storage", url, "--study", "tiny-cpu", "--out", str(tmp_path / "w")],
            _ran(tmp_path / "w"),
        )
        tally.check(capsys, "storage", ["report", str(study), "--storage", url], lambda s: "trial" in s)
    tally.assert_clean()


def test_cut_and_rewritten_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tally: Tally, tiny_study: Path
) -> None:
    rng = random.Random(2)
    exported = tmp_path / "exported"
    assert main(["export", str(tiny_study), "--dest", str(exported)]) == 0
    records = [("study", "run.json"), ("model", "task.json"), ("model", "genai_config.json"),
               ("model", "metrics.json"), ("study", "study.db"), ("study", "report.json")]  # fmt: skip
    for i in range(CASES):
        kind, name = rng.choice(records)
        source = tiny_study if kind == "study" else exported
        copy_ = tmp_path / f"{kind}{i}"
        shutil.copytree(source, copy_, ignore=shutil.ignore_patterns("cache"))
        if kind == "study":
            (copy_ / "cache").symlink_to(tiny_study / "cache")
            # the copy's run record names the copy's own storage: damage to it is what is read
            assert read_record(copy_).storage == f"sqlite:///{copy_.resolve() / 'study.db'}"
        f = copy_ / name
        body = f.read_bytes()
        if name.endswith(".json") and rng.random() < 0.6:
            f.write_text(json.dumps(_mutate(json.loads(body), rng)))
        else:
            f.write_bytes(body[: rng.randrange(max(1, len(body)))])
        if kind == "study":
            tally.check(capsys, "record", ["report", str(copy_)], lambda s: "trial" in s)
            tally.check(
                capsys,
                "record",
                ["export", str(copy_), "--dest", str(tmp_path / f"e{i}")],
                lambda s: "exported" in s,
            )
        else:
            tally.check(
                capsys,
                "record",
                ["predict", "--model", str(copy_), "I am so happy"],
                lambda s: bool(s.strip()),
            )
    assert (tiny_study / "report.json").is_file() and (exported / "task.json").is_file()  # sources untouched
    tally.assert_clean()


def test_mutated_olive_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str], tally: Tally) -> None:
    rng = random.Random(3)
    folder = tmp_path / "olive"
    shutil.copytree(OLIVE, folder)
    config = json.loads((folder / "current-config.json").read_text())
    for i in range(CASES):
        path = folder / f"c{i}.json"
        path.write_text(json.dumps(_mutate(config, rng)))
        out = tmp_path / f"o{i}"
        argv = [
            "run",
            "--config",
            str(path),
            "--model",
            str(tmp_path / "no-model"),
            "--out",
            str(out),
            "--quiet",
        ]
        tally.check(capsys, "olive config", argv, _ran(out))
    tally.assert_clean()
