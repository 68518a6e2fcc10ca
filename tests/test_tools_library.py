"""The local paper library: a temp folder of the fixture PDFs indexed with FTS5 and searched like arXiv."""

from __future__ import annotations

import shutil

from labcoat.config.schema import LibraryConfig, ResearchConfig
from labcoat.tools.library import LocalLibrary, fts_query
from labcoat.tools.research import ResearchTools


def _folder(tmp_path, fixtures_dir):
    folder = tmp_path / "papers"
    (folder / "physics").mkdir(parents=True)
    shutil.copy(fixtures_dir / "pdf" / "paperqa_pasa.pdf", folder / "pasa.pdf")
    shutil.copy(fixtures_dir / "pdf" / "hips_neural_fingerprints_arxiv1509.09292.pdf", folder / "duvenaud15.pdf")
    shutil.copy(fixtures_dir / "pdf" / "arxiv_1111.2011v2.pdf", folder / "physics" / "bethe.pdf")
    (folder / "refs.bib").write_text(
        "@inproceedings{duvenaud15,\n  title = {Convolutional Networks on Graphs for Learning Molecular "
        "Fingerprints},\n  author = {Duvenaud, David and Maclaurin, Dougal},\n  booktitle = {NIPS},\n"
        "  year = {2015}\n}\n", encoding="utf-8")
    return folder


def test_library_indexes_and_finds_papers(tmp_path, fixtures_dir):
    folder = _folder(tmp_path, fixtures_dir)
    lib = LocalLibrary(folder, tmp_path / "index.db")
    report = lib.refresh()
    assert report == {"indexed": 3, "added": 3, "problems": []}
    assert lib.search("molecular fingerprints graph convolution")[0]["id"] == "lib:duvenaud15"
    assert lib.search("academic paper search agent reinforcement")[0]["id"] == "lib:pasa"
    top = lib.search("Bethe lattice quantum criticality")[0]
    assert top["id"] == "lib:physics-bethe" and top["title"].startswith("Quantum Criticality")
    # Metadata from the .bib beats guesses from the PDF.
    fp = lib.metadata("lib:duvenaud15")
    assert fp["authors"] == ["Duvenaud, David", "Maclaurin, Dougal"] and fp["published"] == "2015"
    assert fp["journal_ref"] == "NIPS" and fp["source"] == "library"
    assert lib.search("zebra xylophone") == []
    # FTS5 operators in user text are just words, never syntax errors.
    assert lib.search('NEAR( "molecular* fingerprints -- AND')[0]["id"] == "lib:duvenaud15"
    assert fts_query('a "b" OR c*') == '"a" OR "b" OR "or" OR "c"'
    lib.close()


def test_library_reindexes_changes_and_reports_bad_files(tmp_path, fixtures_dir):
    folder = _folder(tmp_path, fixtures_dir)
    lib = LocalLibrary(folder, tmp_path / "index.db")
    lib.refresh()
    (folder / "broken.pdf").write_bytes(b"%PDF-1.5\n garbage without an end")
    (folder / "pasa.pdf").unlink()
    report = lib.refresh()
    assert report["indexed"] == 2 and report["added"] == 0
    assert [p["path"].endswith("broken.pdf") for p in report["problems"]] == [True]
    assert "truncated" in report["problems"][0]["error"]
    assert all(p["id"] != "lib:pasa" for p in lib.search("paper search agent"))
    lib.close()
    # A second process sees the same index without extracting again.
    again = LocalLibrary(folder, tmp_path / "index.db")
    assert again.refresh()["added"] == 0
    again.close()


def test_library_through_the_facade(tmp_path, fixtures_dir):
    folder = _folder(tmp_path, fixtures_dir)
    config = ResearchConfig(topic="t", library=LibraryConfig(path=folder))
    tools = ResearchTools(config, cache_dir=tmp_path / "cache")
    found = tools.search(None, "molecular fingerprints", source="library", max_results=2)
    assert found["source"] == "library" and found["papers"][0]["id"] == "lib:duvenaud15"
    text = tools.full_text(None, "lib:duvenaud15", section="Limitations")
    assert text["section"] == "5 Limitations" and text["source"] == "library"
    assert tools.paper("lib:duvenaud15")["title"].startswith("Convolutional")
    bib = tools.bibtex(tools.paper("lib:duvenaud15"))
    assert bib.startswith("@article{duvenaud2015convolutional,") and "eprint" not in bib
    missing = tools.full_text(None, "lib:nothing")
    assert missing["kind"] == "not_found"
    local = tools.text_of_file(folder / "pasa.pdf", section="Abstract")
    assert "AutoScholarQuery" in local["text"]
    assert tools.text_of_file(folder / "nope.pdf")["kind"] == "bad_input"
    tools.close()


def test_bib_entries_without_a_pdf_are_papers_when_they_carry_an_abstract(tmp_path, fixtures_dir):
    folder = _folder(tmp_path, fixtures_dir)
    (folder / "shelf.bib").write_text(
        "@article{demsar2006,\n  author = {Dem{\\v{s}}ar, Janez},\n  title = {Statistical Comparisons of "
        "Classifiers over Multiple Data Sets},\n  journal = {JMLR},\n  volume = {7},\n  pages = {1--30},\n"
        "  year = {2006},\n  abstract = {Recommends the Friedman test with post-hoc Nemenyi tests.}\n}\n"
        "@misc{noabstract,\n  title = {A title only},\n  year = {2020}\n}\n"
        "@article{pasa,\n  title = {PaSa from its bib entry},\n  abstract = {Describes pasa.pdf.}\n}\n",
        encoding="utf-8")
    lib = LocalLibrary(folder, tmp_path / "index.db")
    assert lib.refresh()["indexed"] == 4  # three PDFs and the one entry with text and no PDF
    top = lib.search("Friedman Nemenyi classifiers")[0]
    assert top["id"] == "lib:demsar2006" and top["authors"] == ["Demšar, Janez"]
    assert top["journal_ref"] == "JMLR, vol. 7, pp. 1-30" and top["published"] == "2006"
    assert lib.full_text("lib:demsar2006")["sections"][0]["text"].startswith("Recommends the Friedman")
    assert lib.metadata("lib:noabstract") is None
    assert lib.metadata("lib:pasa")["title"] == "PaSa from its bib entry"  # metadata of the PDF, not a paper
    assert "pasa.pdf" in lib.metadata("lib:pasa")["url"]
    # Editing the .bib re-indexes its entries; removing one drops it.
    (folder / "shelf.bib").write_text("@misc{other,\n  title = {Other},\n  annote = {A summary.}\n}\n",
                                      encoding="utf-8")
    assert lib.refresh()["indexed"] == 4
    assert lib.metadata("lib:demsar2006") is None
    assert lib.full_text("lib:other")["sections"][0] == {"name": "Annotation", "text": "A summary."}
    lib.close()


def test_the_quickstart_shelf_is_found_beside_its_config_from_any_directory(tmp_path, monkeypatch):
    from pathlib import Path

    from labcoat.config.loading import load_config

    examples = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.chdir(tmp_path)
    config = load_config(examples / "quickstart.yaml")
    assert config.library.path == examples / "library"
    tools = ResearchTools(config, cache_dir=tmp_path / "cache")
    found = tools.search(None, "scaling features support vector classification", source="library")
    assert "lib:hsu2003practical" in [p["id"] for p in found["papers"]]
    tools.search(None, "statistical comparisons of classifiers", source="library")
    bib = tools.bibtex(tools.paper("lib:demsar2006statistical"))
    assert "Dem" in bib and "\\v" not in bib and "Demšar" in bib
    tools.close()
