"""The JSON shape of an Olive config: the error every reader raises, and a check that each section
autotune reads has the JSON type Olive's schema gives it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autotune.errors import AutotuneError

__all__ = ["AZURE_TYPES", "OliveConfigError", "at", "check_types", "one_line"]
AZURE_TYPES = (
    "AzureML",
    "AzureMLSystem",
    "azureml",
    "azureml_datastore",
    "azureml_registry_model",
    "azureml_model",
    "azureml_datastore_path",
)


class OliveConfigError(AutotuneError):
    """An Olive config autotune cannot run; the message names the key and what to do."""


def at(key: str, msg: str) -> OliveConfigError:
    """The one-line error about ``key`` (a key path: ``builds.int4.pipeline[1]``)."""
    return OliveConfigError(f"{key}: {msg}")


@contextmanager
def one_line(path: Path, what: str) -> Iterator[None]:
    """A shape the checks do not name (found by fuzzing) is still one line, never a traceback:
    ``{path}: {what} (TypeError: ...); check the config against Olive's schema``."""
    try:
        yield
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise OliveConfigError(
            f"{path}: {what} ({type(exc).__name__}: {first}); check the config against Olive's schema"
        ) from None


# The JSON type of each section autotune reads (Olive's own schema), with an example of it.
SECTION_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "input_model": ((dict, str), '{"type": "HfModel", "model_path": "..."}'),
    "systems": ((dict,), '{"local_system": {"type": "LocalSystem"}}'),
    "data_configs": ((list,), '[{"name": "train", ...}]'),
    "passes": ((dict,), '{"lora": {"type": "LoRA"}}'),
    "engine": ((dict,), '{"host": "local_system"}'),
    "evaluators": ((dict,), '{"common_evaluator": {"metrics": [...]}}'),
    "host": ((str, dict), '"local_system"'),
    "target": ((str, dict), '"local_system"'),
    "evaluator": ((str, dict), '"common_evaluator"'),
    "output_dir": ((str,), '"models/out"'),
    "execution_providers": ((list,), '["CPUExecutionProvider"]'),
    "accelerators": ((list,), '[{"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]'),
    # inside a data config
    "name": ((str,), '"train"'),
    "load_dataset_config": ((dict,), '{"data_files": "train.json"}'),
    "pre_process_data_config": ((dict,), '{"text_cols": ["phrase"]}'),
    "params_config": ((dict,), '{"data_files": "train.json"}'),
    "params": ((dict,), '{"data_files": "train.json"}'),
    # inside a pass
    "type": ((str,), '"LoRA"'),
    "config": ((dict,), '{"r": 16}'),
    # several pipelines (Olive's current schema), and inside a build
    "builds": ((dict,), '{"int4": {"pipeline": ["lora", "merge", "builder"]}}'),
    "pipeline": ((list,), '["lora", "merge", "builder"]'),
    "components": ((list,), '["decoder"]'),
}


_JSON_NAMES: dict[type, str] = {dict: "object", list: "array", str: "string"}


def check_types(cfg: dict[str, Any]) -> None:
    """Every section autotune reads has Olive's JSON type (a list of providers, not a string...)."""

    def check(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                spec = SECTION_TYPES.get(key)
                here = f"{where}.{key}" if where else str(key)
                if spec is not None and value is not None and not isinstance(value, spec[0]):
                    kinds = " or ".join(_JSON_NAMES[t] for t in spec[0])
                    raise at(here, f"must be a JSON {kinds}, e.g. {spec[1]} (got {type(value).__name__})")
                if key in ("systems", "engine") or (where.startswith("systems") and isinstance(value, dict)):
                    check(value, here)
                if key == "accelerators" and isinstance(value, list):
                    for i, acc in enumerate(value):  # an object, or a device name (older schema)
                        if not isinstance(acc, (dict, str)):
                            raise at(f"{here}[{i}]", "an accelerator is a JSON object or a device name")
                        check(acc, f"{here}[{i}]")
                if key == "execution_providers" and isinstance(value, list):
                    bad = [v for v in value if not isinstance(v, str)]
                    if bad:
                        raise at(here, f"execution providers are names (strings), not {bad[0]!r}")
                if key == "data_configs" and isinstance(value, list):
                    for i, dc in enumerate(value):
                        if not isinstance(dc, dict):
                            raise at(f"{here}[{i}]", "a data config is a JSON object")
                        check(dc, f"{here}[{i}]")
                        for sub in ("load_dataset_config", "pre_process_data_config"):
                            if isinstance(dc.get(sub), dict):
                                check(dc[sub], f"{here}[{i}].{sub}")
                if key == "builds" and isinstance(value, dict):
                    for name, build in value.items():
                        if not isinstance(build, dict):
                            raise at(f"{here}.{name}", 'a build is a JSON object: {"pipeline": [...]}')
                        check(build, f"{here}.{name}")
                if key == "passes" and isinstance(value, dict):
                    for name, conf in value.items():
                        if isinstance(conf, dict):
                            check(conf, f"{here}.{name}")

    check(cfg, "")
