"""The pieces of the sandbox that need no program run: command lines, environment, capture, keys."""

from __future__ import annotations

import os

from labcoat.sandbox.bwrap import _outermost, bwrap_argv, gpu_args
from labcoat.sandbox.capture import CappedStream
from labcoat.sandbox.limits import MB, prlimit_argv
from labcoat.executor.recorded import safe_key
from labcoat.sandbox.run import program_env
from labcoat.sandbox.spec import ProgramSpec


def _argv(spec: ProgramSpec, as_root: bool) -> list[str]:
    return bwrap_argv(spec, ["/opt/py/bin/python", "main.py"], bwrap="/usr/bin/bwrap", as_root=as_root,
                      interpreter_dirs=["/opt/py", "/home/u/venv"])


def _after(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_root_command_drops_privileges_and_unshares_the_network(tmp_path):
    spec = ProgramSpec(workdir=str(tmp_path / "w"), code="pass", memory_mb=100, max_processes=7)
    argv = _argv(spec, as_root=True)
    assert argv[0] == "/usr/bin/bwrap" and "--unshare-net" in argv and "--die-with-parent" in argv
    assert "--share-net" not in argv and "--unshare-user" not in argv
    split = argv.index("--")
    inner = argv[split + 1:]
    assert inner[0].endswith("prlimit") and f"--as={100 * MB}" in inner and "--nproc=7" in inner
    setpriv = inner.index("setpriv")
    assert inner[setpriv + 1:setpriv + 3] == ["--reuid=65534", "--regid=65534"]
    assert inner[-2:] == ["/opt/py/bin/python", "main.py"]
    workdir = os.path.realpath(spec.workdir)
    assert _after(argv, "--bind") == [workdir]  # the only writable mount
    assert set(_after(argv, "--ro-bind")) >= {"/usr", "/etc", "/opt/py", "/home/u/venv"}
    assert _after(argv, "--chdir") == [workdir]


def test_network_grant_and_unprivileged_user(tmp_path):
    spec = ProgramSpec(workdir=str(tmp_path / "w"), code="pass", network=True)
    argv = _argv(spec, as_root=False)
    assert "--unshare-all" in argv and "--share-net" in argv and "setpriv" not in argv
    root_argv = _argv(spec, as_root=True)
    assert "--unshare-net" not in root_argv


def test_parent_dirs_are_made_traversable(tmp_path):
    spec = ProgramSpec(workdir=str(tmp_path / "w"), code="pass")
    argv = _argv(spec, as_root=True)
    made = _after(argv, "--dir")
    assert "/home" in made and "/home/u" in made and "/opt" in made
    assert all(argv[argv.index("--dir", i) - 1] == "0755" for i, a in enumerate(argv) if a == "--dir")


def test_inputs_are_read_only_binds_under_inputs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    spec = ProgramSpec(workdir=str(tmp_path / "w"), code="pass", inputs={"toy": str(data)})
    argv = _argv(spec, as_root=True)
    i = argv.index(str(data.resolve()))
    assert argv[i - 1] == "--ro-bind" and argv[i + 1] == f"{os.path.realpath(spec.workdir)}/inputs/toy"


def test_gpu_path_binds_granted_devices_and_drops_the_address_space_limit(tmp_path):
    devices = ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm"]
    assert gpu_args([1], devices) == ["--dev-bind", "/dev/nvidia-uvm", "/dev/nvidia-uvm",
                                      "--dev-bind", "/dev/nvidia1", "/dev/nvidia1",
                                      "--dev-bind", "/dev/nvidiactl", "/dev/nvidiactl"]
    assert gpu_args([], devices) == []
    spec = ProgramSpec(workdir=str(tmp_path / "w"), code="pass", gpus=[1])
    assert not any(a.startswith("--as=") for a in prlimit_argv(spec))
    assert any(a.startswith("--as=") for a in prlimit_argv(ProgramSpec(workdir="w")))
    assert program_env(spec, "/w", "bwrap")["CUDA_VISIBLE_DEVICES"] == "1"


def test_environment_is_an_allow_list(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent")
    spec = ProgramSpec(workdir="/w", env={"LABCOAT_DATA_DIR": "/w/inputs/data"}, granted_env={"HF_TOKEN": "hf_x"})
    env = program_env(spec, "/w", "bwrap")
    assert "ANTHROPIC_API_KEY" not in env and "SSH_AUTH_SOCK" not in env
    assert env["HOME"] == "/w" and env["MPLBACKEND"] == "Agg" and env["MPLCONFIGDIR"].startswith("/w/")
    assert env["HF_HUB_OFFLINE"] == "1" and env["LABCOAT_DATA_DIR"] == "/w/inputs/data" and env["HF_TOKEN"] == "hf_x"
    assert spec.describe()["granted_env"] == ["HF_TOKEN"]  # names only, never values


def test_capped_stream_keeps_head_and_tail():
    s = CappedStream(10)
    for chunk in (b"abc", b"defgh", b"ijklmnopq", b"rstuvwxyz"):
        s.add(chunk)
    assert s.total == 26
    assert s.text() == "abcde\n[... 16 bytes of output cut (kept the first and last 5 bytes) ...]\nvwxyz"
    small = CappedStream(100)
    small.add(b"hello")
    assert small.text() == "hello"


def test_interpreter_dirs_are_outermost_and_skip_usr():
    assert _outermost(["/usr/lib/python3", "/opt/py/lib", "/opt/py", "/home/u/venv/lib", "/"]) == [
        "/home/u/venv/lib", "/opt/py"]


def test_safe_keys_are_unique_plain_names():
    a, b = safe_key("running#0/mle/1/cand/0"), safe_key("running#0/mle/1/cand_0")
    assert a != b and "/" not in a and "#" not in a


def test_a_sandbox_that_cannot_be_set_up_raises_instead_of_blaming_the_program(tmp_path):
    import shutil

    import pytest

    from labcoat.sandbox import SandboxError, run_program

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    spec = ProgramSpec(workdir=str(tmp_path / "w"), code="print(1)", mode="bwrap",
                       python_paths=[str(tmp_path / "no-such-python-dir")])
    with pytest.raises(SandboxError, match="bubblewrap could not set up the sandbox: .*no-such-python-dir"):
        run_program(spec)


def test_an_input_through_a_symbolic_link_is_refused(tmp_path):
    import pytest

    from labcoat.sandbox import SandboxError, run_program

    planted = tmp_path / "earlier-program" / "data"
    planted.parent.mkdir()
    planted.symlink_to("/")
    spec = ProgramSpec(workdir=str(tmp_path / "w"), code="print(1)", inputs={"data": str(planted)})
    with pytest.raises(SandboxError, match="symbolic link"):
        run_program(spec)
