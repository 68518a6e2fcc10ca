"""What programs leave is read as untrusted input: FIFOs, links, huge and deeply nested files.

Each case is judged by what happens on the host: the reader returns (no hang: every test has a
timeout), the problem is recorded for that program or phase, and nothing is read through a link.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.sandbox import ProgramSpec, run_program
from labcoat.untrusted import UntrustedFileError, loads, read_json
from tests.support import lab_policies as lab
from tests.support.scripted_provider import ScriptedProvider
from tests.test_phases_e2e import FOUR, artefact, config_for, env, events, policies, workflow_factory  # noqa: F401
from tests.support.lab_services import recorded_arxiv

pytestmark = pytest.mark.timeout(180)

DEEP = "[" * 100_000 + "]" * 100_000


def test_the_reader_refuses_fifos_devices_links_and_deep_nesting(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # opened by nobody for writing: a blocking open would wait forever
    with pytest.raises(UntrustedFileError, match="named pipe"):
        read_json(fifo, 1000)
    with pytest.raises(UntrustedFileError, match="character device"):
        read_json("/dev/zero", 1000)
    secret = tmp_path / "secret.txt"
    secret.write_text('{"k": 1}')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "link.json").symlink_to(secret)
    (tmp_path / "dirlink").symlink_to(tmp_path / "sub")
    with pytest.raises(UntrustedFileError, match="symbolic link"):
        read_json(tmp_path / "sub" / "link.json", 1000)
    (tmp_path / "sub" / "real.json").write_text("{}")
    with pytest.raises(UntrustedFileError, match="not a plain directory"):
        read_json(tmp_path / "dirlink" / "real.json", 1000, root=tmp_path)
    (tmp_path / "big.json").write_text("[" + "1," * 1000 + "1]")
    with pytest.raises(UntrustedFileError, match="more than the 100 allowed"):
        read_json(tmp_path / "big.json", 100)
    with pytest.raises(UntrustedFileError, match="deeper than 64"):
        loads(DEEP)
    assert loads('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == {
        "a": "[" * 68}  # brackets inside strings are text


@pytest.mark.parametrize("make", [
    "import os\nos.mkfifo('metrics.json')",
    f"open('metrics.json', 'w').write({DEEP!r})",
    "import os\nos.symlink('/etc/passwd', 'metrics.json')",
])
def test_a_program_leaving_a_hostile_metrics_file_gets_an_error_not_a_hang(tmp_path, make):
    r = run_program(ProgramSpec(workdir=str(tmp_path / "w"), code=make, timeout_s=30))
    assert r.exit_code == 0 and r.metrics == []
    assert len(r.metrics_errors) == 1 and "metrics.json" in r.metrics_errors[0], r.metrics_errors


def test_labcoat_exec_on_a_deeply_nested_metrics_file_prints_no_traceback(tmp_path):
    program = tmp_path / "deep.py"
    program.write_text(f"open('metrics.json', 'w').write({DEEP!r})\n")
    done = subprocess.run([sys.executable, "-m", "labcoat", "exec", str(program), "--workdir", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stdout + done.stderr
    assert "nests deeper than 64 levels" in json.loads(done.stdout)["metrics_errors"][0]


FIFO_MANIFEST = "\nimport os\nos.remove('data/manifest.json')\nos.mkfifo('data/manifest.json')\n"
DEEP_MANIFEST = f"\nopen('data/manifest.json', 'w').write({DEEP!r})\n"


@pytest.mark.parametrize("tail,said", [(FIFO_MANIFEST, "named pipe"), (DEEP_MANIFEST, "deeper than 64")])
def test_a_hostile_data_manifest_is_a_recorded_warning_and_the_run_finishes(tmp_path, httpserver, fixtures_dir,
                                                                            env, tail, said):  # noqa: F811
    recorded_arxiv(fixtures_dir, httpserver)

    def hostile(request, role, step):
        if role == "ml_engineer":
            return lab.reply_command("dialogue", text="Looks fine.")
        return lab.reply_command("submit_code", data_source="scikit-learn bundled data sets", data_version="1.x",
                                 subsampling=[], body=lab.DATA_CODE + tail)

    with ScriptedProvider(policies(data_preparation=hostile)) as sp:
        config = config_for(sp, httpserver, phases=FOUR[:3], budget={"lit_review_papers": 0})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, workflow_factory, attach=attach)
        warnings = [e["payload"]["message"] for e in events(run_dir, "warning")]
        assert any("data/manifest.json" in w and said in w for w in warnings), warnings
        assert artefact(run_dir, "data_preparation")["data_source"].startswith("scikit-learn")
        execute(run_dir, workflow_factory, attach=attach)  # resuming a finished run passes the same place
    from labcoat.store import open_store

    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished"


def test_a_file_under_a_run_folder_named_relative_to_the_working_directory_is_read(tmp_path, monkeypatch):
    """`labcoat run` makes `runs/<id>` relative to where it was started: the reader must find the file
    whichever way path and root are given, and still refuse one outside the root."""
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    work = Path("runs") / "r1" / "exec" / "w"
    (work / "data").mkdir(parents=True)
    (work / "data" / "manifest.json").write_text('{"splits": {"train": 3}}')
    for path, root in ((work / "data" / "manifest.json", work),
                       (tmp_path / work / "data" / "manifest.json", work),
                       (work / "data" / "manifest.json", tmp_path / work),
                       (Path("data") / "manifest.json", tmp_path / work)):
        assert read_json(path, 1000, root=root) == {"splits": {"train": 3}}, (path, root)
    (tmp_path / "outside.json").write_text("{}")
    with pytest.raises(UntrustedFileError, match="goes outside"):
        read_json(tmp_path / "outside.json", 1000, root=work)
