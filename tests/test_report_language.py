"""A run in Chinese is Chinese: the fixed text labcoat writes itself follows `language`.

The report phases run for real (paper-solver, latexmk with xelatex, reviewers,
refinement, README) on the scripted model, after stand-ins for the earlier
phases; the PDF's text is read back with pypdfium2. Languages with no
wording of their own keep English fixed text and the run says so.
"""

from __future__ import annotations

import json
import re
import shutil

import pypdfium2 as pdfium
import pytest

from labcoat.report.scaffold import render_scaffold
from labcoat.report.wording import available, language_code, load, wording_for
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store

from tests.support.full_lab import look_at_figure, review
from tests.support.lab_policies import reply_command
from tests.support.lab_services import LabScript, lab_config, recorded_arxiv
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider
from tests.test_report_phases import PHASES, factory_for

NUMBERED = re.compile(r"^\s*(\d+)\| (.*)$", re.MULTILINE)
CHINESE = {"abstract": "本文研究特征标准化是否改变分类器的排名。", "introduction": "特征标准化是常见的预处理步骤。",
           "background": "标准化把每个特征缩放到零均值和单位方差。", "related_work": "已有工作比较了多种缩放方法。",
           "methods": "我们比较使用与不使用标准化的逻辑回归。", "experimental_setup": "训练集从 4000 行中抽取了 500 行，验证集为 143 行。",
           "results": "表中列出了记录的指标。", "discussion": "标准化对线性模型有帮助。"}


def writing(request, role, _step):
    text = request.last_user
    heading = re.search(r"Draft the (.+?) section", text)
    if heading:
        key = heading.group(1).lower().replace(" ", "_")
        return reply_command("section", body=CHINESE[key])
    target = next(int(n) for n, line in NUMBERED.findall(text) if "标准化对线性模型有帮助" in line)
    return reply_command("edit", start=target, end=target, body="标准化对线性模型有帮助，对随机森林没有影响。")


def refinement(_request, role, _step):
    if role == "professor":
        return reply_command("summary", question="标准化是否改变分类器的排名？", method="比较使用与不使用标准化的模型。",
                             findings=["验证集准确率见记录的指标表。"], limitations=["只有一个数据集。"])
    return reply_command("decide", decision="accept", phase="", reason="评审没有提出阻碍性的问题。")


def policy(request):
    if request.command_names == ["review"]:
        return review(request)
    if request.command_names == ["figure_check"]:
        return look_at_figure(request)
    return LabScript({"report_writing": writing, "report_refinement": refinement})(request)


@pytest.mark.skipif(not shutil.which("xelatex"), reason="xelatex is not installed (scripts/setup.sh --no-cjk)")
def test_a_chinese_run_writes_a_chinese_pdf_and_readme(tmp_path, httpserver, fixtures_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    recorded_arxiv(fixtures_dir, httpserver)
    with ScriptedProvider(policy) as sp:
        config = lab_config(sp, httpserver, phases=PHASES, language="中文",
                            budget={"paper_steps": 1, "refinement_rounds": 0})
        run_dir = create_run(config, tmp_path / "run")
        ctx = execute(run_dir, factory_for([]), attach=attach)
        assert ctx.failure is None, ctx.failure
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished", store.info().message
    folder = run_dir / "report"
    document = pdfium.PdfDocument(str(folder / "report.pdf"))
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    text = "".join(text.split())  # pdfium breaks lines where the layout does
    words = load("zh")
    for heading in words["sections"].values():
        assert heading in text, heading
    for fixed in ("参考文献", "本次运行记录的指标", "关于评审", "6.1/10", "3.8/10", CHINESE["methods"]):
        assert fixed in text, fixed
    assert "Introduction" not in text and "References" not in text and "Metrics recorded" not in text

    readme = (run_dir / "README.md").read_text(encoding="utf-8")
    for heading in ("研究问题", "方法", "主要结果", "局限性", "评审", "完整性检查", "费用", "文件"):
        assert f"\n## {heading}\n" in readme, heading
    assert "## Question" not in readme and "model calls" not in readme
    reviews = json.loads((folder / "reviews.json").read_text(encoding="utf-8"))
    assert reviews["notice"].startswith("**关于评审。**")
    assert json.loads((folder / "integrity.json").read_text(encoding="utf-8"))["ok"]


def test_every_language_file_has_the_same_strings() -> None:
    def keys(node, prefix=""):
        return {f"{prefix}{k}" for k in node} | {kk for k, v in node.items() if isinstance(v, dict)
                                                 for kk in keys(v, f"{prefix}{k}.")}
    english = keys(load("en"))
    fields = {path: set(re.findall(r"\(\(\(\s*(\w+)", str(v))) for path, v in _leaves(load("en"))}
    for code in available():
        assert keys(load(code)) == english, code
        for path, value in _leaves(load(code)):
            assert set(re.findall(r"\(\(\(\s*(\w+)", str(value))) == fields[path], (code, path)


def _leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("written, code", [("中文", "zh"), ("Chinese", "zh"), ("简体中文", "zh"), (" zh-CN ", "zh"),
                                           ("English", "en"), ("Deutsch", None), ("日本語", None)])
def test_languages_people_write_find_their_wording(written, code) -> None:
    assert language_code(written) == code


def test_a_language_without_wording_keeps_english_fixed_text_and_says_so() -> None:
    words = wording_for("Deutsch")
    assert words.code == "en" and "'Deutsch'" in words.note and "简体中文" in words.note
    tex = render_scaffold("Titel", language="Deutsch")
    assert r"\section{Introduction}" in tex and r"\renewcommand{\abstractname}" not in tex
    assert wording_for("中文").note == "" and r"\section{引言}" in render_scaffold("t", language="中文")
