"""Whether a trial's process is gone, told from the process identity the trial recorded."""

from __future__ import annotations

import json
import subprocess
import sys

from autotune.study.liveness import is_gone, process_identity


def test_a_process_is_gone_once_it_exits_and_only_where_its_pid_means_something() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import json, time; from autotune.study.liveness import process_identity; "
         "print(json.dumps(process_identity()), flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        attrs = json.loads(child.stdout.readline())
        assert attrs["pid"] == child.pid and attrs["pid_space"] and attrs["pid_started"]
        assert not is_gone(attrs)  # alive on this host
        assert is_gone({**attrs, "pid_started": "1"})  # its pid is now another process's
        assert not is_gone({**attrs, "pid_space": "another-boot/pid:[1]"})  # only a heartbeat can tell
        assert not is_gone({k: v for k, v in attrs.items() if k != "pid_space"})  # recorded before
    finally:
        child.kill()
        child.wait()
    assert is_gone(attrs)
    assert is_gone(process_identity())  # this process, asked between trials, runs none of them
