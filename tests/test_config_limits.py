"""Configs that would hang or exhaust `labcoat run`: alias bombs, huge files, FIFOs, devices."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from labcoat.config.loading import load_config
from labcoat.errors import ConfigError

pytestmark = pytest.mark.timeout(120)

BOMB = "topic: x\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


def _run(config: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labcoat", "run", config], capture_output=True, text=True,
                          timeout=100, cwd=cwd)


@pytest.mark.parametrize("case", ["bomb", "huge", "fifo", "device"])
def test_a_hostile_config_is_one_line_and_exit_2(tmp_path, case):
    path = tmp_path / "config.yaml"
    if case == "bomb":
        path.write_text(BOMB)
        said = "expands to more than"
    elif case == "huge":
        path.write_text("topic: x\nnotes: " + "y" * (2 * 1024 * 1024) + "\n")
        said = "more than the 1048576 allowed"
    elif case == "fifo":
        os.mkfifo(path)  # nobody writes: reading it the ordinary way never returns
        said = "named pipe (FIFO), not a regular file"
    else:
        path = "/dev/zero"
        said = "character device, not a regular file"
    done = _run(str(path), tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], done.stderr
    assert not list(tmp_path.glob("runs/*"))


def test_aliases_within_reason_still_work(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("topic: &t shared words\nlibrary:\n  path: null\nlanguage: English\n")
    assert load_config(path).topic == "shared words"
    path.write_text("topic: x\nlist: &l [1, 2]\nself: &s [*l, *l]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)  # unknown keys are refused, but only after the aliases were measured
    assert "expands" not in str(info.value)
    path.write_text("topic: x\nloop: &a [*a]\n")
    with pytest.raises(ConfigError, match="refers to itself|expands"):
        load_config(path)
    (tmp_path / "link.yaml").symlink_to(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("topic: through a link\n")
    assert load_config(tmp_path / "link.yaml").topic == "through a link"
