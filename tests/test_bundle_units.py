"""The bundle's pieces on their own: claims from the integrity record, printed numbers, drift, the lock."""

from __future__ import annotations

from labcoat.bundle.claims import claims_from_integrity
from labcoat.bundle.compare import Row, printed_value, table
from labcoat.bundle.environment import drift, requirements_lock

MATCHED = [
    {"number": "0.9912", "line": 9, "source": "s0c0: breast_cancer/logreg/accuracy (dev)", "file": "metrics_table.tex"},
    {"number": "0.99", "line": 40, "source": "s0c0: breast_cancer/logreg/accuracy (dev)"},
    {"number": "0.9801", "line": 22, "source": "s0c0/test: accuracy (test)", "file": "metrics_table.tex"},
    {"number": "0.95", "line": 41, "source": "node s2c1: accuracy"},
    {"number": "12.5\\%", "line": 42, "source": "node s2c1 output"},
    {"number": "569", "line": 43, "source": "data sizes: breast_cancer_train"},
    {"number": "1797", "line": 44, "source": "data preparation output"},
    {"number": "5.0", "line": 63, "source": "reviews.json: mean overall score"},
    {"number": "6.1", "line": 64, "source": "Agent Laboratory (arXiv 2501.04227): mean automated review score"},
    {"number": "0.5", "line": 65, "source": "node s9c9: accuracy"},  # a node the journal does not hold
]


def test_claims_name_the_programs_behind_each_stated_number():
    claims = claims_from_integrity(MATCHED, {"s0c0", "s2c1"})
    got = [(c.program, c.metric, c.split) for c in claims]
    assert got == [("node_s0c0", "breast_cancer/logreg/accuracy", "dev"), ("final_test", "accuracy", "test"),
                   ("node_s2c1", "accuracy", "dev"), ("node_s2c1", "printed 12.5\\%", "output"),
                   ("data_preparation", "size:breast_cancer_train", "data"), ("data_preparation", "printed 1797", "output")]
    assert claims[0].stated == "0.9912" and claims[0].file == "metrics_table.tex"


def test_printed_numbers_are_found_as_the_paper_rounds_them():
    out = "epoch 3 loss 0.4121\ndev accuracy 0.1250 on 8 items\n"
    assert printed_value(out, "12.5\\%") == 0.125
    assert printed_value(out, "0.41") == 0.4121
    assert printed_value(out, "0.77") is None and printed_value("", "0.41") is None


def test_rows_match_exactly_or_within_the_recorded_tolerance():
    assert Row("p", "acc", "dev", "0.9", 0.9, 0.9, 0.0).match
    assert not Row("p", "acc", "dev", "0.9", 0.9, 0.9000000001, 0.0).match
    assert Row("p", "acc", "dev", "0.9", 0.9, 0.93, 0.05).match
    assert not Row("p", "acc", "dev", "0.9", 0.9, None, 0.05).match and not Row("p", "a", "d", "", None, 0.9, 0).match
    text = table([Row("p", "acc", "dev", "0.9", 0.9, None, 0.0, "re-run failed")])
    assert "NO" in text and "—" in text and "re-run failed" in text


def test_environment_drift_and_lock():
    recorded = {"python": "3.11.7", "packages": {"numpy": "2.1.0", "scikit-learn": "1.5.2"},
                "local_packages": {"labcoat": "0.1.0"}, "labcoat": {"version": "0.1.0"}, "cpu": "A", "gpus": []}
    here = {"python": "3.12.1", "packages": {"numpy": "2.2.0"}, "labcoat": {"version": "0.1.0"}, "cpu": "A", "gpus": []}
    notes = drift(recorded, here)
    assert notes == ["Python 3.12.1 here, 3.11.7 recorded", "package numpy 2.2.0 here, 2.1.0 recorded",
                     "package scikit-learn 1.5.2 is not installed here"]
    assert drift(recorded, recorded) == []
    lock = requirements_lock(recorded).splitlines()
    assert [line for line in lock if not line.startswith("#")] == ["numpy==2.1.0", "scikit-learn==1.5.2"]
    assert any("labcoat 0.1.0" in line for line in lock if line.startswith("#"))
