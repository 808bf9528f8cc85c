"""One-pass label scoring (``_tree``) against the pass-per-label scorer, on the tiny ONNX builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluators import EvalTask, EvaluatorError, ModelArtifact, candidate_sequences, predict_labels
from evaluators._tree import TreeScorer, load_tree, scoring_graph, totals_of, tree_of

# fp32 sums in another order: measured up to 9e-6 on the 32 test phrases. int4 (accuracy_level 4 by
# default here) quantizes activations per block, and a pass of another shape takes another kernel:
# measured up to 0.054 there; a decision may flip only where the margin is below the tolerance.
TOLERANCE = {"fp32": 1e-4, "int4": 0.1}


def test_the_tree_lays_each_label_after_the_prompt_and_hides_the_others() -> None:
    tree = tree_of([5, 6, 7], [(10, 11, 2), (12, 2), (13,)])
    assert tree.tokens == [5, 6, 7, 10, 11, 12]
    assert tree.positions == [0, 1, 2, 3, 4, 3]  # each label starts right after the prompt
    assert tree.rows == [2, 3, 4, 5]  # the prompt's last, then every label token fed
    seen = tree.bias == 0
    assert not seen[:, 0].any()  # the past slot is never seen
    prompt, first, second = [1, 2, 3], [4, 5], [6]
    for row in range(6):
        cols = {c - 1 for c in np.flatnonzero(seen[row])}
        own = first if row + 1 in first else second if row + 1 in second else []
        want = {c - 1 for c in prompt if c - 1 <= row} | {c - 1 for c in own if c - 1 <= row}
        assert cols == want, row
    assert np.isneginf(tree.bias[~seen]).all()


def _choices(folder: Path, task: EvalTask, one_pass: bool) -> list:  # type: ignore[type-arg]
    return predict_labels(
        ModelArtifact(folder, "onnx-genai"), task.prompts, task.label_set, one_pass=one_pass
    )


@pytest.mark.parametrize("precision", ["fp32", "int4"])
@pytest.mark.parametrize("task_name", ["tone_task", "near_task"])
def test_one_pass_gives_the_pass_per_label_decisions(
    tiny_onnx: dict[str, Path], precision: str, task_name: str, request: pytest.FixtureRequest
) -> None:
    task = request.getfixturevalue(task_name)
    one = _choices(tiny_onnx[precision], task, one_pass=True)
    per_label = _choices(tiny_onnx[precision], task, one_pass=False)
    for a, b in zip(one, per_label, strict=True):
        np.testing.assert_allclose(a.scores, b.scores, atol=TOLERANCE[precision], rtol=0)
        assert (a.passes, a.steps) == (1, b.steps) and b.passes > 1
        if abs(b.margin) > TOLERANCE[precision]:
            assert a.index == b.index


def test_a_label_sees_neither_the_others_nor_their_order(
    tiny_onnx: dict[str, Path], tone_task: EvalTask
) -> None:
    scorer = TreeScorer(tiny_onnx["fp32"])
    prompt = tone_task.prompts[0]
    cands = candidate_sequences(scorer.encode, prompt, tone_task.label_set, scorer.eos_ids[0])
    ids = scorer.encode(prompt)
    together = totals_of(scorer.logits(tree_of(ids, cands)), cands)
    alone = [totals_of(scorer.logits(tree_of(ids, [c])), [c])[0] for c in cands]
    backwards = totals_of(scorer.logits(tree_of(ids, cands[::-1])), cands[::-1])[::-1]
    np.testing.assert_allclose(together, alone, atol=TOLERANCE["fp32"], rtol=0)
    np.testing.assert_allclose(backwards, alone, atol=TOLERANCE["fp32"], rtol=0)


def test_a_graph_without_its_attention_inputs_falls_back(tiny_onnx: dict[str, Path], tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "s", 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 8], [0.0] * 32)
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "s", 8])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["logits"])], "g", [x], [logits], [w])
    with pytest.raises(EvaluatorError, match="needs GroupQueryAttention"):
        scoring_graph(helper.make_model(graph))
    # ORT's dynamic int8 quantizes a whole pass with one scale: labels would change each other
    dynamic = helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "scale", "zero"])
    per_tensor = helper.make_graph([dynamic, *graph.node], "d", [x], [logits], [w])
    with pytest.raises(EvaluatorError, match="DynamicQuantizeLinear quantizes a whole pass"):
        scoring_graph(helper.make_model(per_tensor))
    assert load_tree(tmp_path) is None  # no ORT GenAI folder: its own loader says why
    folder = tmp_path / "plain"
    folder.mkdir()
    for name in ("genai_config.json", "tokenizer.json"):
        (folder / name).write_bytes((tiny_onnx["fp32"] / name).read_bytes())
    onnx.save(helper.make_model(graph), str(folder / "model.onnx"))
    assert load_tree(folder) is None
