"""Running the Olive workflow configs users already have: ``autotune run --config FILE.json``.

The config is read (both schemas), turned into an autotune space written next to the results
(``olive-space.yaml``), and run by the usual study: one trial exactly as written (one per build
when the config names several ``builds``), or a search when the config asks for one.
"""

from __future__ import annotations

from autotune.olive._read import OliveConfigError, OliveWorkflow, read_olive_config
from autotune.olive._run import olive_space
from autotune.olive._space import prepare_olive_space
from autotune.olive._trials import build_namer, queue_builds

__all__ = [
    "OliveConfigError",
    "OliveWorkflow",
    "build_namer",
    "olive_space",
    "prepare_olive_space",
    "queue_builds",
    "read_olive_config",
]
