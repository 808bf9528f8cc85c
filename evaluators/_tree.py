"""Whole-label scoring in one forward pass: the prompt and every label's continuation as a tree.

``score_labels`` runs the prompt's prefill, then one pass per label longer than one token (and a
rewind). Here the prompt's tokens and each label's tokens but its last are laid out in one
sequence: a label's tokens take the positions right after the prompt (the same positions as in
its own pass) and an additive attention bias lets each token see the prompt and its own label's
earlier tokens only, so each label is scored as if it were alone after the prompt. The LM head
runs only over the rows that predict a label token (the prompt's last and every label token fed),
not over every prompt token.

This needs the attention op to take position ids and an attention bias. The model builder's
``GroupQueryAttention`` (com.microsoft) has both inputs; ONNX Runtime honours position ids only
when there is a past, so the pass gets a one-slot past that the bias hides from every query.
The graph is derived from the folder's ``model.onnx`` in memory (its weights file is shared, not
copied) and run by a plain ONNX Runtime session on the CPU; ORT GenAI's generator cannot take a
bias. Scores equal ``score_labels``'s up to the kernels' rounding: another pass shape quantizes
activations (int4/int8 builds with accuracy_level 4) or sums in another order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._base import EvaluatorError
from ._genai_config import eos_token_ids, intra_op_threads, read_decoder, sliding_window
from ._scorer import Continuations, Scored, SequenceScorer, check, check_ids, log_softmax

_GQA = "GroupQueryAttention"
_POSITION_IDS, _BIAS = 9, 10  # GroupQueryAttention's optional inputs
_HEADS = {"MatMul", "MatMulNBits"}  # an LM head whose input rows can be picked before it runs
# ops that quantize activations with one scale per tensor: every token of a pass would share it,
# so a label's score would depend on the other labels in the pass (ORT's dynamic int8 does this;
# MatMulNBits quantizes each row's blocks on its own)
_PER_TENSOR = {"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM"}


@dataclass(frozen=True)
class Tree:
    """One pass's inputs: ``tokens`` and their ``positions``, the additive ``bias`` (rows: the
    tokens, columns: the past slot then the tokens; 0 = seen, -inf = hidden) and ``rows``, the
    positions whose logits are read: the prompt's last, then each label's fed tokens in order."""

    tokens: list[int]
    positions: list[int]
    bias: npt.NDArray[np.float32]
    rows: list[int]


def tree_of(prompt_ids: Sequence[int], candidates: Continuations) -> Tree:
    """The tree of ``prompt_ids`` and every candidate but its last token (see ``Tree``)."""
    n = len(prompt_ids)
    tokens, positions, owner = list(prompt_ids), list(range(n)), [-1] * n
    for j, cand in enumerate(candidates):
        for k, token in enumerate(cand[:-1]):
            tokens.append(int(token))
            positions.append(n + k)
            owner.append(j)
    size = len(tokens)
    who = np.asarray(owner)
    causal = np.arange(size)[None, :] <= np.arange(size)[:, None]
    seen = causal & ((who[None, :] == -1) | (who[None, :] == who[:, None]))
    bias = np.full((size, size + 1), -np.inf, dtype=np.float32)  # column 0: the hidden past slot
    bias[:, 1:][seen] = 0.0
    return Tree(tokens, positions, bias, [n - 1, *range(n, size)])


def logprobs_of(logits: npt.ArrayLike, candidates: Continuations) -> tuple[npt.NDArray[np.float64], ...]:
    """Each candidate's token log-probabilities from the logits of a tree's ``rows``."""
    logp = log_softmax(np.asarray(logits).reshape(-1, np.shape(logits)[-1]))
    out: list[npt.NDArray[np.float64]] = []
    row = 1
    for cand in candidates:
        check_ids(cand, logp.shape[-1])
        rows = [0, *range(row, row + len(cand) - 1)]
        out.append(logp[rows, list(cand)])
        row += len(cand) - 1
    return tuple(out)


def totals_of(logits: npt.ArrayLike, candidates: Continuations) -> list[float]:
    """Each candidate's summed log-probability from the logits of a tree's ``rows``."""
    return Scored(logprobs_of(logits, candidates), 1).totals


def scoring_graph(model: Any) -> Any:
    """``model`` (an ``onnx.ModelProto`` from the model builder) with inputs ``position_ids``,
    ``attention_bias`` and ``logit_rows`` wired into every attention node and the LM head, and
    ``logits`` as its only output. Raises EvaluatorError when its attention is not
    ``GroupQueryAttention``, nothing yields ``logits``, or it quantizes activations per tensor
    (``_PER_TENSOR``: the labels in the pass would change each other's scores)."""
    from onnx import TensorProto, helper

    graph = model.graph
    shared = sorted({n.op_type for n in graph.node} & _PER_TENSOR)
    if shared:
        raise EvaluatorError(
            f"one-pass label scoring needs each token's activations quantized on their own; {shared[0]} "
            "quantizes a whole pass with one scale"
        )
    attention = [n for n in graph.node if n.op_type == _GQA]
    if not attention:
        raise EvaluatorError("one-pass label scoring needs GroupQueryAttention nodes; this graph has none")
    heads = [n for n in graph.node if "logits" in n.output]
    if len(heads) != 1:
        raise EvaluatorError("one-pass label scoring needs one node that yields 'logits'")
    dtype = next(i for i in graph.input if i.name.startswith("past_key_values")).type.tensor_type.elem_type
    names = {i.name for i in graph.input}
    new: list[tuple[str, int, list[str | int | None]]] = [
        ("position_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
        ("attention_bias", dtype, ["batch_size", 1, "sequence_length", "total_sequence_length"]),
        ("logit_rows", TensorProto.INT64, ["rows"]),
    ]
    graph.input.extend(helper.make_tensor_value_info(n, t, shape) for n, t, shape in new if n not in names)
    for node in attention:
        node.input.extend([""] * (_BIAS + 1 - len(node.input)))
        node.input[_POSITION_IDS], node.input[_BIAS] = "position_ids", "attention_bias"
    head = heads[0]
    at = list(graph.node).index(head)
    if head.op_type in _HEADS:  # pick the rows, then run the head over them only
        pick = helper.make_node("Gather", [head.input[0], "logit_rows"], ["/tree/rows"], axis=1)
        head.input[0] = "/tree/rows"
        graph.node.insert(at, pick)
    else:
        head.output[list(head.output).index("logits")] = "/tree/all_logits"
        graph.node.insert(
            at + 1, helper.make_node("Gather", ["/tree/all_logits", "logit_rows"], ["logits"], axis=1)
        )
    logits = next(o for o in graph.output if o.name == "logits")
    logits.type.tensor_type.shape.dim[1].dim_param = "rows"
    del graph.output[:]
    graph.output.append(logits)
    return model


class TreeScorer(SequenceScorer):
    """``SequenceScorer`` that scores each prompt with all its continuations in one forward pass
    (``passes`` 1): a plain ONNX Runtime CPU session over ``scoring_graph`` of an ORT GenAI
    folder, with the folder's tokenizer (``tokenizer.json``, read by ``tokenizers``; ORT GenAI is
    not loaded, so the weights are in memory once)."""

    def __init__(self, folder: Path) -> None:
        decoder = read_decoder(folder)
        self.threads = intra_op_threads(folder)
        self.eos_ids = eos_token_ids(folder)
        self._layers = decoder.num_hidden_layers
        self._kv = (decoder.num_key_value_heads, decoder.head_size)
        self._key, self._value = decoder.past_names

        import onnx
        import onnxruntime as ort
        from tokenizers import Tokenizer

        graph = scoring_graph(onnx.load(str(folder / decoder.filename), load_external_data=False))
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(folder))
        try:
            self._session = ort.InferenceSession(
                graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # ORT and tokenizers raise their own types with native messages
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EvaluatorError(f"cannot load {folder} for one-pass label scoring: {first}") from exc
        inputs = {i.name: i for i in self._session.get_inputs()}
        fed = {"input_ids", "attention_mask", "position_ids", "attention_bias", "logit_rows"}
        fed |= {name % layer for layer in range(self._layers) for name in (self._key, self._value)}
        if set(inputs) != fed:  # e.g. LFM2's convolution states, layers without a KV cache
            odd = sorted(set(inputs) ^ fed)[:3]
            raise EvaluatorError(f"{folder}: the graph's inputs are not what one-pass scoring feeds ({odd})")
        past = inputs[self._key % 0]
        self._dtype = np.float16 if past.type == "tensor(float16)" else np.float32

    def encode(self, text: str) -> list[int]:
        return [int(i) for i in self._tokenizer.encode(text).ids]

    def logits(self, tree: Tree) -> npt.NDArray[np.float32]:
        """The logits of ``tree.rows``, shape (len(rows), vocab): one forward pass."""
        size = len(tree.tokens)
        slot = np.zeros((1, *self._kv[:1], 1, self._kv[1]), dtype=self._dtype)
        feed: dict[str, Any] = {
            "input_ids": np.asarray([tree.tokens], dtype=np.int64),
            "attention_mask": np.ones((1, size + 1), dtype=np.int64),
            "position_ids": np.asarray([tree.positions], dtype=np.int64),
            "attention_bias": tree.bias[None, None].astype(self._dtype),
            "logit_rows": np.asarray(tree.rows, dtype=np.int64),
        }
        for layer in range(self._layers):
            feed[self._key % layer] = feed[self._value % layer] = slot
        out: npt.NDArray[np.float32] = np.asarray(self._session.run(["logits"], feed)[0], dtype=np.float32)[0]
        return out

    def score(self, prompts: Sequence[Sequence[int]], continuations: Sequence[Continuations]) -> list[Scored]:
        check(prompts, continuations)
        return [
            Scored(logprobs_of(self.logits(tree_of(p, c)), c), 1)
            for p, c in zip(prompts, continuations, strict=True)
        ]


def load_tree(folder: Path) -> TreeScorer | None:
    """The one-pass scorer of an ORT GenAI folder, or None where it cannot serve: no ORT GenAI
    folder, attention other than GroupQueryAttention, no single ``logits`` node, activations
    quantized per tensor (ORT's dynamic int8: see ``scoring_graph``), a sliding-window model
    (Gemma 2 and 3, gpt-oss: ONNX Runtime's attention wants a KV buffer as long as the window,
    which a one-pass graph without a past does not have), or an ONNX Runtime that refuses the
    derived graph (ORT GenAI's own loader then runs, and says why if it cannot either). Which
    scorer ran is in every latency record (``label_passes``)."""
    if sliding_window(folder):
        return None
    try:
        return TreeScorer(folder)
    except (OSError, ValueError, KeyError, TypeError, EvaluatorError):
        return None
