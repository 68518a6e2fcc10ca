"""A lab group's page: its labs side by side, the papers they published and who took them up."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from labcoat.web import create_app
from tests.test_web_support import lab_group, text_of_html


def test_group_page_shows_each_lab_its_paper_and_who_cited_it(tmp_path: Path) -> None:
    lab_group(tmp_path, "smoothing", labs=2)
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    r = c.get("/runs/smoothing")
    assert r.status_code == 200
    page = text_of_html(r.text)
    assert "lab group smoothing · 2 labs × 1 paper each" in page
    rows = re.findall(r'<tr class="lab-run lab-(\d)" id="run-([^"]+)">(.*?)</tr>', r.text, re.S)
    assert [(lab, run) for lab, run, _ in rows] == [("1", "smoothing-lab0-p0"), ("2", "smoothing-lab1-p0")]
    first, second = (text_of_html(cells) for _, _, cells in rows)
    assert "finished" in first and "$0.0147" in first and "5 / 10" in first and "archive:000001" in first
    assert "6 / 10" in second and "archive:000002" in second
    assert "1 error" in first  # the fixture's integrity.json has one unmatched number
    assert 'href="/runs/smoothing-lab1-p0"' in r.text and 'href="/runs/smoothing-lab0-p0/report"' in r.text
    papers = text_of_html(re.search(r'<table class="papers">.*?</table>', r.text, re.S).group(0))
    assert "archive:000001 lab 1: smoothing-lab0-p0 lab 2 ( smoothing-lab1-p0 ): cited in its report" in papers
    assert "archive:000002 lab 2: smoothing-lab1-p0 no other lab yet" in papers
    assert "$0.0294 in all" in page
    # the runs list names the group; each of its runs still has its own pages
    listing = c.get("/").text
    assert 'href="/runs/smoothing"' in listing
    assert c.get("/runs/smoothing-lab1-p0").status_code == 200


def test_group_page_with_a_lab_not_started_and_a_broken_manifest(tmp_path: Path) -> None:
    root = lab_group(tmp_path, "g", labs=2)
    manifest = json.loads((root / "labs.json").read_text())
    manifest["papers"] = 2  # the second papers have not begun
    (root / "labs.json").write_text(json.dumps(manifest))
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    page = text_of_html(c.get("/runs/g").text)
    assert page.count("not started") == 2 and "g-lab1-p1" in page
    (root / "labs.json").write_text("{not json")
    broken = c.get("/runs/g")
    assert broken.status_code == 422 and "labs.json is not a readable lab group" in broken.text
    assert c.get("/runs/nothing-here").status_code == 404


def test_a_labs_json_written_inside_a_run_is_no_group(tmp_path: Path) -> None:
    from tests.test_web_support import finished_run

    run_dir = finished_run(tmp_path, "plain", turns=0, nodes=0, report=False)
    (run_dir / "work").mkdir()
    (run_dir / "work" / "labs.json").write_text('{"labs": 2}')
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    assert 'class="groups"' not in c.get("/").text
    assert c.get("/runs/work").status_code == 404
