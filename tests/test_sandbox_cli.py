"""`labcoat exec` runs one program as an experiment would and prints the result as JSON."""

from __future__ import annotations

import json

import pytest

from labcoat.cli import main

pytestmark = pytest.mark.timeout(120)


def _exec(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(["exec", *argv])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_exec_prints_the_result_as_json(tmp_path, capsys):
    data = tmp_path / "prepared"
    data.mkdir()
    (data / "n.txt").write_text("21")
    prog = tmp_path / "experiment.py"
    prog.write_text("import json, os\nn = int(open('inputs/prepared/n.txt').read())\nprint(n * 2)\n"
                    "json.dump([{'name': 'answer', 'value': n * 2, 'split': 'dev', 'higher_is_better': True}],"
                    " open('metrics.json', 'w'))\n")
    code, out, _ = _exec([str(prog), "--timeout", "30", "--memory", "512", "--input", str(data),
                          "--workdir", str(tmp_path / "w")], capsys)
    result = json.loads(out)
    assert code == 0
    assert result["stdout"] == "42\n" and result["metrics"][0]["value"] == 42.0
    assert result["workdir"] == str((tmp_path / "w").resolve())
    assert (tmp_path / "w" / "experiment.py").exists()


def test_exec_exits_1_and_names_the_limit(tmp_path, capsys):
    prog = tmp_path / "spin.py"
    prog.write_text("while True:\n    pass\n")
    code, out, _ = _exec([str(prog), "--timeout", "1", "--workdir", str(tmp_path / "w")], capsys)
    assert code == 1 and json.loads(out)["killed_by"] == "timeout"


def test_exec_missing_program_is_a_clear_error(tmp_path, capsys):
    code, _, err = _exec([str(tmp_path / "nope.py")], capsys)
    assert code == 2 and "no such program file" in err
