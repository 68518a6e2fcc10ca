"""Hostile programs through the real sandbox: each must be contained and named.

Every case runs a real program with small limits (seconds, 512 MB, 64
processes) under a hard pytest timeout, so a sandbox failure cannot take the
machine down. Limit cases run in both modes (bwrap and rlimits-only);
isolation cases need bwrap.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

import pytest

from labcoat.sandbox import ProgramSpec, run_program
from tests.support.polling import eventually
from tests.support.signals import default_sigint

HAVE_BWRAP = shutil.which("bwrap") is not None
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap is not installed")
# Without bwrap, a root-run program drops to uid 65534, which needs a world-readable interpreter and workdir.
SYSTEM_PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.timeout(90)


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(params=["bwrap", "rlimits-only"])
def make_spec(request, tmp_path):
    """Specs for one mode, with small limits; workdirs land where that mode can reach them."""
    mode = request.param
    if mode == "bwrap" and not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    python = None
    root = tmp_path
    if mode == "rlimits-only" and os.geteuid() == 0:
        if not os.path.exists(SYSTEM_PYTHON):
            pytest.skip("rlimits-only as root needs a world-readable /usr/bin/python3")
        python = SYSTEM_PYTHON
        root = Path(tempfile.mkdtemp(prefix="labcoat-rl-", dir="/tmp"))
        root.chmod(0o755)
        request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))

    # Every case: nothing beside the workdir changes (a sibling directory with a file in it).
    outside = root / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("original")
    digest = _tree_digest(outside)
    request.addfinalizer(lambda: _assert_unchanged(outside, digest))

    def make(code: str, name: str = "prog", **limits) -> ProgramSpec:
        base = dict(timeout_s=10.0, cpu_s=30, memory_mb=512, max_processes=64, file_size_mb=16,
                    output_limit_kb=16, output_kill_mb=32, mode=mode)
        base.update(limits)
        spec = ProgramSpec(workdir=str(root / name), code=code, **base)
        if python:
            spec.python = python
        return spec

    make.mode = mode
    make.root = root
    return make


def _assert_unchanged(outside: Path, digest: str) -> None:
    assert _tree_digest(outside) == digest, f"{outside} changed"


# -- how programs end -----------------------------------------------------------

def test_sys_exit_code_is_reported(make_spec):
    r = run_program(make_spec("import sys\nprint('bye')\nsys.exit(3)"))
    assert (r.exit_code, r.killed_by, r.stdout) == (3, None, "bye\n")
    assert r.sandbox == make_spec.mode


def test_exit_builtin_ends_only_the_program(make_spec):
    r = run_program(make_spec("print('before')\nexit()\nprint('after')"))
    assert r.exit_code == 0 and r.stdout == "before\n"


def test_infinite_loop_is_killed_by_the_wall_clock(make_spec):
    started = time.monotonic()
    r = run_program(make_spec("while True:\n    pass", timeout_s=1.5))
    assert r.killed_by == "timeout" and r.signal == "SIGKILL"
    assert time.monotonic() - started > 1.4  # not before its time; how long after depends on the machine's load


def test_cpu_limit_names_cpu(make_spec):
    r = run_program(make_spec("while True:\n    pass", cpu_s=1, timeout_s=20))
    assert r.killed_by == "cpu", r  # the CPU limit fired, long before the 20 s wall clock would


def test_allocating_64_gb_fails_with_memory_named(make_spec):
    r = run_program(make_spec("x = bytearray(64 * 1024**3)\nprint('allocated')"))
    assert r.exit_code != 0 and r.killed_by == "memory"
    assert "allocated" not in r.stdout


def test_memory_spread_over_children_is_caught_by_the_watchdog(make_spec):
    # Each child stays under RLIMIT_AS; together they pass the limit: only the watchdog sees it.
    code = (
        "import os, time\n"
        "for _ in range(6):\n"
        "    if os.fork() == 0:\n"
        "        b = bytearray(150 * 1024 * 1024)\n"
        "        for i in range(0, len(b), 4096): b[i] = 1\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "time.sleep(30)\n"
    )
    r = run_program(make_spec(code, memory_mb=400, timeout_s=20, watchdog_interval_s=0.05))
    assert r.killed_by == "memory", r  # the watchdog, not the 20 s wall clock


def test_fork_bomb_is_contained(make_spec):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    r = run_program(make_spec(code, timeout_s=3, max_processes=32))
    assert r.killed_by in ("timeout", "processes"), r
    # Nothing of the bomb is left on the machine.
    from labcoat.sandbox.limits import scan_processes

    eventually(lambda: not [p for p in scan_processes().values() if str(make_spec.root) in _cwd(p.pid)],
               "the fork bomb's processes to be gone")


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def test_500_mb_on_stdout_is_capped_and_killed(make_spec):
    code = "import sys\nb = b'x' * (1 << 20)\nfor _ in range(500):\n    sys.stdout.buffer.write(b)\n"
    r = run_program(make_spec(code, output_kill_mb=32, output_limit_kb=16))
    assert r.killed_by == "output"
    assert r.stdout_bytes >= 32 * 1024 * 1024
    assert len(r.stdout) < 20 * 1024 and "bytes of output cut" in r.stdout


def test_output_keeps_head_and_tail(make_spec):
    code = "print('FIRST')\nfor i in range(20000):\n    print('line', i)\nprint('LAST')\n"
    r = run_program(make_spec(code, output_limit_kb=4))
    assert r.exit_code == 0
    assert r.stdout.startswith("FIRST") and r.stdout.rstrip().endswith("LAST")
    assert "bytes of output cut" in r.stdout


def test_killing_the_parent_does_not_reach_the_runner(make_spec):
    import dataclasses
    import json
    import subprocess
    import sys

    # The runner is a process of its own here, so its survival is observable.
    spec = make_spec("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('still here')")
    driver = subprocess.run([sys.executable, "-c", (
        "import json, sys\nfrom labcoat.sandbox import ProgramSpec, run_program\n"
        "r = run_program(ProgramSpec(**json.loads(sys.argv[1])))\nprint(json.dumps(r.to_json()))\n"),
        json.dumps(dataclasses.asdict(spec))], capture_output=True, text=True, timeout=60)
    assert driver.returncode == 0, driver.stderr
    result = json.loads(driver.stdout)
    assert result["killed_by"] is None and result["exit_code"] is not None


def test_background_child_is_killed_when_the_program_exits(make_spec, tmp_path):
    marker = "labcoat-bg-sleeper-" + os.urandom(4).hex()
    code = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{marker}'])\n"
        "print('left a child behind')\n"
    )
    r = run_program(make_spec(code))
    assert r.exit_code == 0 and "left a child behind" in r.stdout
    eventually(lambda: not [p for p in os.listdir("/proc") if p.isdigit() and marker in _read_cmdline(p)],
               "the background child to be killed")


# Double fork + setsid: the classic daemon, outside the program's tree and session.
DAEMON = """
import os, time
open("main.pid", "w").write(str(os.getpid()))
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        open("daemon.tmp", "w").write(str(os.getpid()))
        os.rename("daemon.tmp", "daemon.pid")
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.wait()
while not os.path.exists("daemon.pid"):
    time.sleep(0.01)
print("daemon started")
"""
UNTIL_RELEASED = """
for _ in range(2000):
    if os.path.exists("release"):
        break
    time.sleep(0.01)
"""


def _pid_in(path: Path, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return int(path.read_text())


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("make_spec", ["rlimits-only"], indirect=True)
def test_a_setsid_daemon_is_killed_when_the_program_exits(make_spec):
    spec = make_spec(DAEMON)
    r = run_program(spec)
    assert r.exit_code == 0 and "daemon started" in r.stdout, r.stderr
    daemon = int((Path(spec.workdir) / "daemon.pid").read_text())
    # Killed and reaped: not even a zombie is left.
    assert not os.path.exists(f"/proc/{daemon}")
    assert "killed 1 process(es) left running" in r.stderr


@pytest.mark.parametrize("make_spec", ["rlimits-only"], indirect=True)
def test_concurrent_programs_do_not_kill_each_others_processes(make_spec):
    slow, fast = make_spec(DAEMON + UNTIL_RELEASED, name="slow", timeout_s=30), make_spec(DAEMON, name="fast")
    results: dict = {}
    threads = {name: threading.Thread(target=lambda n=name, s=spec: results.__setitem__(n, run_program(s)))
               for name, spec in (("slow", slow), ("fast", fast))}
    threads["slow"].start()
    slow_daemon = _pid_in(Path(slow.workdir) / "daemon.pid")
    slow_main = _pid_in(Path(slow.workdir) / "main.pid")
    threads["fast"].start()
    threads["fast"].join(timeout=30)
    assert results["fast"].exit_code == 0, results["fast"].stderr
    assert not _running(int((Path(fast.workdir) / "daemon.pid").read_text()))
    # The other program, still running, kept its main process and its daemon.
    assert _running(slow_main) and _running(slow_daemon)
    (Path(slow.workdir) / "release").write_text("")
    threads["slow"].join(timeout=30)
    assert results["slow"].exit_code == 0, results["slow"].stderr
    assert not _running(slow_daemon)


def _read_cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_file_size_limit_names_file_size(make_spec):
    r = run_program(make_spec("open('big.bin', 'wb').write(b'x' * (4 * 1024 * 1024))", file_size_mb=1))
    assert r.killed_by == "file_size" and r.exit_code != 0


def test_api_key_in_the_parent_environment_is_not_visible(make_spec, monkeypatch):
    secret = "sk-test-" + os.urandom(8).hex()
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    code = (
        "import os\n"
        "print(sorted(os.environ))\n"
        "for p in ('/proc/1/environ', f'/proc/{os.getppid()}/environ'):\n"
        "    try:\n        print(open(p, 'rb').read())\n    except OSError as e:\n        print('denied', e)\n"
    )
    r = run_program(make_spec(code))
    assert r.exit_code == 0
    assert secret not in r.stdout + r.stderr
    assert "OPENAI_API_KEY" not in r.stdout


def test_a_granted_key_is_visible(make_spec):
    spec = make_spec("import os\nprint(os.environ.get('LABCOAT_GRANTED') == 'yes-granted')")
    spec.granted_env = {"LABCOAT_GRANTED": "yes-granted"}
    assert run_program(spec).stdout == "True\n"


# -- isolation (bwrap) ----------------------------------------------------------

@pytest.fixture
def bwrap_spec(tmp_path):
    if not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")

    def make(code: str, **kw) -> ProgramSpec:
        return ProgramSpec(workdir=str(tmp_path / "work"), code=code, timeout_s=10, memory_mb=512,
                           max_processes=64, mode="bwrap", **kw)

    return make


@needs_bwrap
def test_cannot_connect_to_a_server_on_the_host_loopback(bwrap_spec):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []

    def accept_loop(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    stop = threading.Event()
    t = threading.Thread(target=accept_loop, args=(stop,), daemon=True)
    t.start()
    try:
        code = (
            "import socket\n"
            f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('CONNECTED')\n"
            "except OSError as e:\n    print('refused', type(e).__name__)\n"
        )
        r = run_program(bwrap_spec(code))
        # Positive control: the server does accept connections from outside the sandbox.
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        time.sleep(0.3)
    finally:
        stop.set()
        t.join(timeout=2)
        server.close()
    assert "refused" in r.stdout and "CONNECTED" not in r.stdout
    assert len(accepted) == 1  # only the control connection


@needs_bwrap
def test_only_loopback_exists_and_the_system_is_read_only(bwrap_spec):
    code = (
        "import os, socket, errno\n"
        "print('ifaces', [n for _, n in socket.if_nameindex()])\n"
        "mounts = {l.split()[4]: l.split()[5] for l in open('/proc/self/mountinfo')}\n"
        "print('usr', mounts['/usr'].split(',')[0], 'etc', mounts['/etc'].split(',')[0])\n"
        "for p in ('/usr/labcoat-probe', '/etc/labcoat-probe'):\n"
        "    try:\n        open(p, 'w'); print('WROTE', p)\n"
        "    except OSError as e:\n        print('denied', errno.errorcode[e.errno])\n"
    )
    r = run_program(bwrap_spec(code))
    lines = r.stdout.splitlines()
    assert lines[0] == "ifaces ['lo']"
    assert lines[1] == "usr ro etc ro"
    assert "WROTE" not in r.stdout and r.stdout.count("denied") == 2
    assert not os.path.exists("/usr/labcoat-probe") and not os.path.exists("/etc/labcoat-probe")


@needs_bwrap
def test_cannot_read_ssh_keys_or_shadow(bwrap_spec, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY----- fake")
    monkeypatch.setenv("HOME", str(home))
    code = (
        "import os\n"
        f"for p in [os.path.expanduser('~/.ssh/id_ed25519'), {str(key)!r}, '/etc/shadow', '/root/.ssh']:\n"
        "    try:\n        print('READ', p, open(p).read()[:40])\n"
        "    except OSError as e:\n        print('denied', p, type(e).__name__)\n"
    )
    r = run_program(bwrap_spec(code))
    assert r.exit_code == 0
    assert "READ" not in r.stdout and "PRIVATE KEY" not in r.stdout
    assert r.stdout.count("denied") == 4


@needs_bwrap
def test_writes_outside_the_workdir_fail_and_change_nothing(bwrap_spec, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("original")
    purelib = sysconfig.get_paths()["purelib"]
    before = _tree_digest(outside)
    code = (
        "import os\n"
        f"targets = [{str(outside / 'keep.txt')!r}, {str(outside / 'new.txt')!r}, "
        f"{os.path.join(purelib, 'labcoat_evil.py')!r}, '/tmp/../etc/evil', os.path.expanduser('~/../evil')]\n"
        "for p in targets:\n"
        "    try:\n        open(p, 'w').write('pwned'); print('WROTE', p)\n"
        "    except OSError as e:\n        print('denied', p, type(e).__name__)\n"
        "open('inside.txt', 'w').write('fine')\n"
    )
    r = run_program(bwrap_spec(code))
    assert [line for line in r.stdout.splitlines() if line.startswith("WROTE")] == []
    assert _tree_digest(outside) == before
    assert not os.path.exists(os.path.join(purelib, "labcoat_evil.py"))
    assert r.files == ["inside.txt"]


@needs_bwrap
def test_inputs_are_mounted_read_only(bwrap_spec, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n")
    code = (
        "print(open('inputs/data/train.csv').read().splitlines()[1])\n"
        "try:\n    open('inputs/data/train.csv', 'w')\n    print('WROTE')\nexcept OSError as e:\n"
        "    print('denied', type(e).__name__)\n"
    )
    spec = bwrap_spec(code)
    spec.inputs = {"data": str(data)}
    r = run_program(spec)
    lines = r.stdout.splitlines()
    assert lines[0] == "1,2" and lines[1].startswith("denied") and len(lines) == 2
    assert (data / "train.csv").read_text() == "a,b\n1,2\n"


@needs_bwrap
def test_runs_as_an_unprivileged_user_when_labcoat_is_root(bwrap_spec):
    r = run_program(bwrap_spec("import os\nprint(os.getuid(), os.geteuid())"))
    uid, euid = (int(x) for x in r.stdout.split())
    assert uid == euid
    if os.geteuid() == 0:
        assert uid >= 1_000_000  # a uid of its own, far from any account
    else:
        assert uid == os.getuid()


def test_interrupting_the_runner_kills_the_program(make_spec):
    import dataclasses
    import json
    import signal
    import subprocess
    import sys

    spec = make_spec("import os, time\nopen('pid', 'w').write(str(os.getpid()))\nwhile True:\n    time.sleep(0.1)\n",
                     timeout_s=60)
    driver = subprocess.Popen([sys.executable, "-c", (
        "import json, sys\nfrom labcoat.sandbox import ProgramSpec, run_program\n"
        "run_program(ProgramSpec(**json.loads(sys.argv[1])))\n"), json.dumps(dataclasses.asdict(spec))],
        preexec_fn=default_sigint)
    pid_file = Path(spec.workdir) / "pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid_file.exists(), "the program never started"
    program_cmdline = eventually(lambda: [p for p in os.listdir("/proc") if p.isdigit() and "main.py" in
                                          _read_cmdline(p) and _cwd(int(p)) == os.path.realpath(spec.workdir)],
                                 "the sandboxed program to be visible from outside")
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=30) != 0
    eventually(lambda: not [p for p in program_cmdline if os.path.exists(f"/proc/{p}") and
                            Path(f"/proc/{p}/stat").read_text().split(")")[-1].split()[0] != "Z"],
               "the sandboxed program to end with its driver")


def test_overwriting_files_beside_the_workdir_and_the_python_install_fails(make_spec):
    code = (
        "import os, sysconfig\n"
        f"targets = [{str(make_spec.root / 'outside' / 'keep.txt')!r}, "
        "os.path.join(sysconfig.get_paths()['purelib'], 'labcoat_evil.py'), os.__file__]\n"
        "for p in targets:\n"
        "    try:\n        open(p, 'a').write('pwned'); print('WROTE', p)\n"
        "    except OSError as e:\n        print('denied', type(e).__name__)\n"
    )
    r = run_program(make_spec(code))
    assert r.exit_code == 0 and r.stdout.count("denied") == 3, r.stdout


def test_links_to_outside_files_do_not_become_metrics_or_figures(make_spec):
    secret = make_spec.root / "outside" / "keep.txt"
    code = (
        "import os\n"
        f"os.symlink({str(secret)!r}, 'metrics.json')\n"
        f"os.symlink({str(secret)!r}, 'figure.png')\n"
        "open('real.png', 'wb').write(b'png')\n"
    )
    r = run_program(make_spec(code))
    assert r.exit_code == 0
    assert r.metrics == [] and "symbolic link" in r.metrics_errors[0]
    assert r.figures == ["real.png"] and r.files == ["real.png"]


@needs_bwrap
def test_network_flag_lets_the_program_reach_a_loopback_server(bwrap_spec):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5).sendall(b'hi')\n"
        r = run_program(bwrap_spec(code, network=True))
        server.settimeout(5)
        conn, _ = server.accept()
        assert conn.recv(2) == b"hi"
        conn.close()
    finally:
        server.close()
    assert r.exit_code == 0, r.stderr
