"""The integrity check on realistic paper text: what it flags, what it lets through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labcoat.review.integrity import check_integrity

BIB = r"""
@article{vaswani2017attention,
  title={Attention Is All You Need},
  author={Vaswani, Ashish and others},
  journal={arXiv preprint arXiv:1706.03762},
  year={2017}
}
@inproceedings{breiman2001forests,
  title={Random Forests},
  author={Breiman, Leo},
  year={2001}
}
"""

CODE = """
from sklearn.ensemble import RandomForestClassifier
clf = RandomForestClassifier(n_estimators=100, max_depth=12, random_state=0)
opt = dict(lr=0.001, weight_decay=5e-4, epochs=30)
"""

RECORDED = [
    {"value": 0.8732, "source": "metrics.json: dev_accuracy (node 7)", "metric": True},
    {"value": 0.8411, "source": "metrics.json: baseline_dev_accuracy (node 2)", "metric": True},
    {"value": 0.0213, "source": "metrics.json: dev_accuracy_std (node 7)", "metric": True},
    {"value": 67349, "source": "DataCode.sizes.train"},
    {"value": 872, "source": "DataCode.sizes.dev"},
]
SUBSAMPLING = ["train subsampled to 5000 of 67349 examples (uniform, seed 0)"]

PAPER = r"""\documentclass[11pt]{article}
\usepackage[letterpaper,textwidth=5.5in]{geometry}
\begin{document}
\section{Introduction}\label{sec:introduction}
Since 2017, attention models \citep{vaswani2017attention} dominate; forests \citep{breiman2001forests} remain strong baselines.
We compare three classifiers and report results in Section 5 and Table~2 (see Figure 1 and Eq. 3).

\section{Experimental Setup}
We train on SST-2 (67,349 training and 872 dev sentences), published 2013-10-01.
For speed the training set was subsampled to 5,000 of the 67,349 examples, uniformly at random.
The random forest uses 100 trees of depth at most 12; the MLP uses lr $10^{-3}$, weight decay $5\times10^{-4}$ and 30 epochs, with 5 seeds.

\section{Results}
\begin{table}[t]
\centering
\begin{tabular}{lrr}
\toprule
Model & Dev acc. (\%) & Std \\
\midrule
Forest & 84.11 & -- \\
MLP & 87.32 & 0.0213 \\
\bottomrule
\end{tabular}
\end{table}
The MLP reaches 87.3\% dev accuracy (0.873), 3.2 points above the forest's 0.841. % draft said 91.0
\begin{figure}[t]
\includegraphics[width=0.8\linewidth]{accuracy_curve}
\end{figure}
\end{document}
"""


@pytest.fixture
def figure_dir(tmp_path: Path) -> Path:
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "accuracy_curve.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return figures


def _check(tex: str, figure_dir: Path, **overrides):
    args = dict(recorded_numbers=RECORDED, retrieved_keys={"vaswani2017attention", "breiman2001forests"},
                figure_dir=figure_dir, subsampling=SUBSAMPLING, code_texts=[CODE])
    args.update(overrides)
    return check_integrity(tex, BIB, **args)


def test_realistic_paper_has_no_false_positives(figure_dir: Path) -> None:
    report = _check(PAPER, figure_dir)
    assert report.findings == [], report.feedback()
    assert report.ok
    sources = {m["number"]: m["source"] for m in report.matched}
    assert sources["87.3\\%"].startswith("metrics.json: dev_accuracy")
    assert sources["10^{-3}"] == sources["5\\times10^{-4}"] == "recorded code"
    assert "difference of" in sources["3.2"]
    assert sources["67,349"] == "DataCode.sizes.train"
    assert report.counts["numbers_checked"] == len(report.matched) >= 12
    assert json.loads(json.dumps(report.to_dict()))["ok"] is True


def test_invented_number_and_unretrieved_citation_are_flagged_then_fixed(figure_dir: Path) -> None:
    bib = BIB + "\n@article{lecun1998gradient,\n  title={Gradient-Based Learning},\n  year={1998}\n}\n"
    bad = PAPER.replace("3.2 points above", "beating the 91.4\\% of \\citet{lecun1998gradient} and 3.2 points above")
    bad = bad.replace("with 5 seeds.", "with 5 seeds, reaching 0.9102 test accuracy.")
    bad_line = bad.splitlines().index(next(l for l in bad.splitlines() if "0.9102" in l)) + 1
    cite_line = next(i for i, l in enumerate(bad.splitlines(), 1) if "lecun1998gradient" in l)
    report = check_integrity(bad, bib, recorded_numbers=RECORDED,
                             retrieved_keys={"vaswani2017attention", "breiman2001forests"},
                             figure_dir=figure_dir, subsampling=SUBSAMPLING, code_texts=[CODE])
    kinds = {(f.kind, f.text, f.line, f.severity) for f in report.findings}
    assert ("unsupported_number", "0.9102", bad_line, "error") in kinds
    assert ("unretrieved_citation", "lecun1998gradient", cite_line, "error") in kinds
    # a number in a sentence that cites a paper is a literature number: a warning to check it
    assert ("unsupported_number", "91.4\\%", cite_line, "warning") in kinds
    assert not report.ok
    feedback = report.feedback()
    assert f"line {bad_line}: '0.9102' matches no number" in feedback and "Fix:" in feedback

    fixed = bad.replace(", reaching 0.9102 test accuracy.", ".").replace(
        "beating the 91.4\\% of \\citet{lecun1998gradient} and ", "")
    assert check_integrity(fixed, bib, recorded_numbers=RECORDED,
                           retrieved_keys={"vaswani2017attention", "breiman2001forests"},
                           figure_dir=figure_dir, subsampling=SUBSAMPLING, code_texts=[CODE]).ok


def test_unknown_key_missing_figure_and_unstated_subsampling(figure_dir: Path) -> None:
    tex = PAPER.replace(r"\citep{breiman2001forests}", r"\citep{breiman2001forests,ho1995random}")
    tex = tex.replace("{accuracy_curve}", "{loss_curve.pdf}")
    tex = tex.replace("For speed the training set was subsampled to 5,000 of the 67,349 examples, uniformly at random.\n", "")
    report = _check(tex, figure_dir)
    found = {f.kind: f for f in report.findings}
    assert found["unknown_citation"].text == "ho1995random" and found["unknown_citation"].line == 5
    figure_line = next(i for i, l in enumerate(tex.splitlines(), 1) if "loss_curve" in l)
    assert found["missing_figure"].text == "loss_curve.pdf" and found["missing_figure"].line == figure_line
    assert "5000 of 67349" in found["unstated_subsampling"].message
    assert len(report.errors) == 3


def test_rounding_tolerance_follows_written_digits(figure_dir: Path) -> None:
    def verdict(sentence: str) -> bool:
        tex = "\\begin{document}\n" + sentence + "\n\\end{document}\n"
        return check_integrity(tex, "", recorded_numbers=[{"value": 0.8732, "source": "m"}], retrieved_keys=set(),
                                figure_dir=figure_dir).ok
    assert verdict("Accuracy 0.87.") and verdict("Accuracy 87\\%.") and verdict("Accuracy 87.32 percent.")
    assert not verdict("Accuracy 0.88.") and not verdict("Accuracy 87.4\\%.") and not verdict("Accuracy 0.8735.")
    # years, small counts, cross-references and layout are not claims
    assert verdict("In 2024 we ran 4 models (Section 3.2, Figure 12, Table 11) \\vspace{-3mm} arXiv:2501.04227.")
    assert not verdict("We used 4096 examples.")
    # units and multipliers do not hide a claim; names with digits are not claims
    assert not verdict("It is 1.5x faster.") and not verdict("Training took 3.2h.") and not verdict("We used 50k examples.")
    assert verdict("ResNet50 and GPT-4 on the 3rd split, in 2D, top-5.")


def test_real_paper_claims_are_found_and_notation_is_not(fixtures_dir: Path, tmp_path: Path) -> None:
    tex = (fixtures_dir / "latex" / "neural_fingerprints_1509.09292" / "paper_for_arxiv.tex").read_text()
    report = check_integrity(tex, "", recorded_numbers=[], retrieved_keys=set(), figure_dir=tmp_path)
    numbers = {(f.text, f.severity) for f in report.findings if f.kind == "unsupported_number"}
    # a results-table cell is a claim of its own; a number in a citing sentence is the literature's
    assert ("4.29", "error") in numbers and ("0.823", "error") in numbers and ("20,000", "error") in numbers
    assert ("43,000", "warning") in numbers and ("1144", "warning") in numbers
    # subscripts (EC_{50}), years, figure/table numbers and layout are notation, not claims
    lines = tex.splitlines()
    assert any("EC$_{50}$" in line for line in lines)
    assert all("EC$_{50}$" not in lines[f.line - 1] or f.text != "50" for f in report.findings if f.line)
    assert not any(text in {"2015", "1", "2"} for text, _ in numbers)
    assert {f.kind for f in report.findings} == {"unsupported_number", "unknown_citation", "missing_figure"}


def test_differences_pair_metrics_only_never_a_log_value_with_a_review_score(figure_dir: Path) -> None:
    """A real run's report said '26' (a model's garbled text); 29.8 in the data-preparation log minus
    the 3.8 of the reviews notice made it look recorded. Only metric minus metric is a claim."""
    recorded = [*RECORDED, {"value": 29.8, "source": "data preparation output"},
                {"value": 3.8, "source": "Agent Laboratory (arXiv 2501.04227): mean human review score"}]
    tex = PAPER.replace(r"\end{document}", "We ran 26 configurations.\n\\end{document}")
    report = _check(tex, figure_dir, recorded_numbers=recorded)
    assert [(f.kind, f.text) for f in report.findings] == [("unsupported_number", "26")]
    assert any("difference of" in m["source"] for m in report.matched if m["number"] == "3.2")


def test_a_whole_number_is_never_read_as_a_percentage_and_an_exact_record_names_the_source(
        figure_dir: Path) -> None:
    """A real run's notice said "spread 3.4" and the check named the source "data sizes: breast_cancer_train":
    341 training examples, divided by 100. A count, size or code literal read as a percentage supports
    almost any decimal: 341 made "3.4" recorded, a literal 42 would have made "0.42"."""
    def verdict(sentence: str, records: list[dict], code: str = "") -> tuple[bool, list[dict]]:
        tex = "\\begin{document}\n" + sentence + "\n\\end{document}\n"
        report = check_integrity(tex, "", recorded_numbers=records, retrieved_keys=set(), figure_dir=figure_dir,
                                 code_texts=[code] if code else [])
        return report.ok, report.matched

    sizes = [{"value": 341.0, "source": "data sizes: train"}]
    assert not verdict("The spread was 3.4.", sizes)[0]
    assert not verdict("The rate was 0.42.", [], code="SEED = 42\n")[0]
    # a fraction shown in percent and a percentage shown as a fraction still match
    assert verdict("Accuracy 97.2\\%.", [{"value": 0.972, "source": "m"}])[0]
    assert verdict("Accuracy 0.972.", [{"value": 97.2, "source": "m"}])[0]
    # the record that states the number as written names it, wherever it sits in the pool
    ok, matched = verdict("The spread was 3.4.", [{"value": 0.034, "source": "metric: dev loss"},
                                                   {"value": 3.4, "source": "reviews.json: overall_spread"}])
    assert ok and [m["source"] for m in matched] == ["reviews.json: overall_spread"]
