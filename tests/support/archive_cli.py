"""`labcoat archive ...` in-process, as (exit code, stdout, stderr) (tests only)."""

from __future__ import annotations

from labcoat.cli import main


def archive_cli(*args: str, capsys) -> tuple[int, str, str]:
    code = 0
    try:
        main(["archive", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
