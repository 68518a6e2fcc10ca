"""`labcoat export` and `labcoat reproduce` on a whole scripted run (real sandbox, real LaTeX).

The run is made once for the module; each test exports or reads its bundle.
Reproduction happens with the run folder moved away, in a fresh folder, so
only the bundle can serve it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from labcoat.bundle.files import BundleError, unpack, verify, write_manifest
from labcoat.bundle.reproduce import reproduce

from tests.support.bundled_run import full_run

pytestmark = pytest.mark.timeout(900)


def labcoat(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labcoat", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("bundled")
    full_run(base / "run", base / "cache")
    return base / "run"


@pytest.fixture(scope="module")
def bundle_zip(run_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "paper.zip"
    done = labcoat("export", str(run_dir), "--out", str(out), cwd=run_dir.parent)
    assert done.returncode == 0, done.stderr
    assert "3 programs" in done.stdout and "labcoat reproduce" in done.stdout
    return out


def test_bundle_holds_paper_programs_environment_and_crate(bundle_zip, tmp_path):
    root = unpack(bundle_zip, tmp_path / "x")
    verify(root)
    meta = json.loads((root / "bundle.json").read_text())
    assert meta["programs"] == ["data_preparation", "final_test", "node_s0c0"]
    assert {c["program"] for c in meta["claims"]} == {"final_test", "node_s0c0"}
    for name in ("paper/report.pdf", "paper/report.tex", "paper/references.bib", "paper/figures/dev_accuracy.png",
                 "README.md", "REPRODUCE.md", "environment/requirements.lock", "ro-crate-metadata.json"):
        assert (root / name).is_file(), name
    program = json.loads((root / "programs" / "final_test" / "program.json").read_text())
    assert program["env"]["LABCOAT_EVAL_SPLIT"] == "test" and program["seed"]["PYTHONHASHSEED"] == "0"
    assert program["limits"]["timeout_s"] > 0 and program["inputs"]["data"]["bundle_path"] == "data/data_preparation/data"
    data = root / program["inputs"]["data"]["bundle_path"]
    assert set(program["inputs"]["data"]["files"]) == {p.name for p in data.iterdir()}
    lock = (root / "environment" / "requirements.lock").read_text()
    assert "scikit-learn==" in lock and "numpy==" in lock
    env = json.loads((root / "environment" / "environment.json").read_text())
    assert env["python"] == ".".join(map(str, sys.version_info[:3])) and env["os"] and env["cpu"]
    graph = json.loads((root / "ro-crate-metadata.json").read_text())["@graph"]
    actions = [e for e in graph if e.get("@type") == "CreateAction"]
    assert {a["@id"] for a in actions} == {"#run-data_preparation", "#run-final_test", "#run-node_s0c0"}
    files = {e["@id"]: e for e in graph if "File" in e.get("@type", [])}
    assert files["paper/report.pdf"]["sha256"] == json.loads((root / "MANIFEST.json").read_text())["files"][
        "paper/report.pdf"]["sha256"]


def test_requirements_lock_is_accepted_by_pip(bundle_zip, tmp_path):
    root = unpack(bundle_zip, tmp_path / "x")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps",
                           "--report", str(tmp_path / "r.json"), "-r", str(root / "environment" / "requirements.lock")],
                          capture_output=True, text=True, timeout=300)
    # offline: pip parses every line, then cannot find the wheels; a syntax error would be reported first
    assert "Invalid requirement" not in done.stderr, done.stderr


def test_reproduce_from_the_bundle_alone_matches_every_stated_metric(run_dir, bundle_zip, tmp_path):
    away = run_dir.parent / "moved-away"
    run_dir.rename(away)
    try:
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        shutil.copy(bundle_zip, fresh / "bundle.zip")
        done = labcoat("reproduce", "bundle.zip", "--workdir", "work", "--json", cwd=fresh)
    finally:
        away.rename(run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and len(report["rows"]) == 10
    assert all(r["match"] and r["recorded"] == r["rerun"] and r["tolerance"] == 0 for r in report["rows"])
    assert {(r["program"], r["metric"], r["split"]) for r in report["rows"]} >= {
        ("final_test", "accuracy", "test"), ("node_s0c0", "accuracy", "dev")}
    assert [p["exit_code"] for p in report["programs"]] == [0, 0, 0]


def test_a_changed_input_is_refused_with_the_file_named(bundle_zip, tmp_path):
    root = unpack(bundle_zip, tmp_path / "x")
    target = root / "data" / "data_preparation" / "data" / "wine.npz"
    target.write_bytes(target.read_bytes() + b"\0")
    done = labcoat("reproduce", str(root), "--workdir", str(tmp_path / "w"), cwd=tmp_path)
    assert done.returncode == 1
    assert "data/data_preparation/data/wine.npz" in done.stderr and "changed" in done.stderr
    assert not (tmp_path / "w" / "programs").exists()  # nothing ran
    # rewriting the manifest too does not help: the program's own input hashes still disagree
    write_manifest(root, "run")
    with pytest.raises(BundleError, match=r"inputs/data of program final_test: .*wine\.npz"):
        reproduce(root, workdir=tmp_path / "w2")


@pytest.mark.slow
def test_a_metric_that_differs_fails_the_reproduction(bundle_zip, tmp_path):
    root = unpack(bundle_zip, tmp_path / "x")
    code = root / "programs" / "node_s0c0" / "main.py"
    code.write_text(code.read_text().replace("SVC(", "SVC(C=0.01, "))  # a different experiment than recorded
    program = root / "programs" / "node_s0c0" / "program.json"
    data = json.loads(program.read_text())
    from labcoat.bundle.files import sha256_file

    program.write_text(json.dumps(data | {"code_sha256": sha256_file(code)}))
    write_manifest(root, "run")
    result = reproduce(root, workdir=tmp_path / "w")
    assert not result.ok
    assert any(not r.match and r.program == "node_s0c0" and "svc" in r.metric for r in result.rows)
    assert all(r.match for r in result.rows if r.program == "final_test")


@pytest.mark.slow
def test_uncopied_data_is_rebuilt_by_the_data_program(run_dir, tmp_path):
    done = labcoat("export", str(run_dir), "--out", str(tmp_path / "b"), "--max-copy-mb", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "b" / "data").exists()
    result = reproduce(tmp_path / "b", workdir=tmp_path / "w")
    assert result.ok, [r.to_json() for r in result.rows]


def test_a_dataset_left_out_says_how_to_fetch_it(bundle_zip, tmp_path):
    root = unpack(bundle_zip, tmp_path / "x")
    path = root / "programs" / "data_preparation" / "program.json"
    program = json.loads(path.read_text())
    program["inputs"] = {"org__qa": {"source": {"kind": "huggingface", "repo": "org/qa", "revision": "abc123",
                                                "repo_type": "dataset"},
                                     "files": {"qa.jsonl": {"sha256": "0" * 64, "bytes": 10}}, "bundle_path": None}}
    path.write_text(json.dumps(program))
    write_manifest(root, "run")
    with pytest.raises(BundleError, match=r"huggingface-cli download org/qa --repo-type dataset --revision abc123"):
        reproduce(root, workdir=tmp_path / "w")
    fetched = tmp_path / "qa"
    fetched.mkdir()
    (fetched / "qa.jsonl").write_text("not the recorded bytes\n")
    with pytest.raises(BundleError, match=r"qa\.jsonl has sha256"):
        reproduce(root, workdir=tmp_path / "w", data_dirs={"org/qa": fetched})


def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return path


@pytest.mark.parametrize("member, why", [
    ("../escape.txt", "outside the bundle folder"),
    ("/etc/labcoat-test", "outside the bundle folder"),
    ("b/../../escape.txt", "outside the bundle folder"),
])
def test_zip_members_outside_the_folder_are_refused(tmp_path, member, why):
    archive = _zip(tmp_path / "bad.zip", [("b/MANIFEST.json", b"{}"), (member, b"x")])
    with pytest.raises(BundleError, match=why):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out").exists()


def test_zip_links_and_bombs_are_refused(tmp_path):
    link = zipfile.ZipInfo("b/data/link")
    link.external_attr = (0o120777 << 16)
    with pytest.raises(BundleError, match="symbolic link"):
        unpack(_zip(tmp_path / "link.zip", [("b/MANIFEST.json", b"{}"), (link, b"/etc/passwd")]), tmp_path / "o1")
    with pytest.raises(BundleError, match="zip bomb"):
        unpack(_zip(tmp_path / "bomb.zip", [("b/MANIFEST.json", b"{}"), ("b/zeros", b"\0" * (8 << 20))]),
               tmp_path / "o2")
    done = labcoat("reproduce", str(tmp_path / "link.zip"), cwd=tmp_path)
    assert done.returncode == 1 and "symbolic link" in done.stderr and "Traceback" not in done.stderr


def test_paper_readme_and_dashboard_point_to_the_bundle(run_dir, tmp_path):
    from fastapi.testclient import TestClient

    from labcoat.web import create_app

    run_id = run_dir.name
    text = subprocess.run(["pdftotext", str(run_dir / "report" / "report.pdf"), "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    flat = " ".join(text.split())
    assert f"labcoat export {run_id}" in flat and f"labcoat-bundle-{run_id}.zip" in flat
    assert flat.rfind("Code and data availability") > flat.rfind("Discussion")  # the last section
    readme = (run_dir / "README.md").read_text()
    assert f"bundle/labcoat-bundle-{run_id}.zip" in readme and f"labcoat export {run_id}" in readme
    client = TestClient(create_app(run_dir.parent), base_url="http://127.0.0.1")
    assert f"/runs/{run_id}/bundle.zip" in client.get(f"/runs/{run_id}/report").text
    got = client.get(f"/runs/{run_id}/bundle.zip")
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    archive = tmp_path / "dl.zip"
    archive.write_bytes(got.content)
    root = unpack(archive, tmp_path / "dl")
    assert json.loads((root / "bundle.json").read_text())["run_id"] == run_id
    assert (run_dir / "bundle" / f"labcoat-bundle-{run_id}.zip").is_file()  # where the README says


@pytest.mark.parametrize("edit, message", [
    (lambda meta, prog: meta.update(programs=["../../outside"]), "names a program"),
    (lambda meta, prog: prog["inputs"]["data"].update(bundle_path="../../.."), "points outside the bundle"),
    (lambda meta, prog: prog.update(code="/etc/passwd"), "points outside the bundle"),
])
def test_a_bundle_naming_paths_outside_itself_is_refused(bundle_zip, tmp_path, edit, message):
    root = unpack(bundle_zip, tmp_path / "x")
    meta_path, prog_path = root / "bundle.json", root / "programs" / "final_test" / "program.json"
    meta, prog = json.loads(meta_path.read_text()), json.loads(prog_path.read_text())
    edit(meta, prog)
    meta_path.write_text(json.dumps(meta))
    prog_path.write_text(json.dumps(prog))
    write_manifest(root, "run")  # a bundle made that way, not a changed one
    with pytest.raises(BundleError, match=message):
        reproduce(root, workdir=tmp_path / "w")
    assert not (tmp_path / "outside").exists()
