"""`cpuwall.study`: the seed study's table for any estimator, written as the
results document `cpuwall sweep` writes, drawn by `cpuwall report`."""
import json
import os
import subprocess

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

import cpuwall

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli():
    exe = os.environ.get("CPUWALL") or os.path.join(REPO, "target", "debug", "cpuwall")
    assert os.path.exists(exe), f"{exe} not found: build the CLI (cargo build) or set CPUWALL"
    return exe


@pytest.fixture(scope="module")
def rows():
    return make_classification(n_samples=4000, n_features=8, random_state=0)


def check_document(results, name, backends, sizes):
    assert results["format"] == "cpuwall-sweep" and results["complete"] is True
    cells = results["cells"]
    assert [(c["rows"], c["backend"]) for c in cells] == [(n, b) for n in sizes for b in backends]
    cores = results["environment"]["cores"]
    for c in cells:
        assert c["model"] == name
        assert c["samples"] >= 6 and len(c["raw"]["wall_ns"]) == c["samples"]
        lo, hi = c["wall_seconds_ci95"]
        assert 0 < lo <= c["wall_seconds"]["median"] <= hi
        # Every core a call kept busy is counted, and no more than exist.
        assert 0 < c["cpu_per_wall"] <= cores * 1.05, c
        assert c["identical_to_direct"] is True
        direct = next(d for d in cells if d["rows"] == c["rows"] and d["backend"] == "direct")
        assert c["speedup_vs_direct"] == pytest.approx(direct["wall_seconds"]["median"] / c["wall_seconds"]["median"])
    assert next(c for c in cells if c["backend"] == "direct")["cpu_per_wall"] == pytest.approx(1.0, abs=0.25)


def test_a_scikit_learn_forest_is_studied_and_cpuwall_report_draws_it(tmp_path, rows):
    x, y = rows
    est = RandomForestClassifier(n_estimators=10, random_state=0).fit(x[:1000], y[:1000])
    s = cpuwall.study(est, x, sizes=(10, 4000), min_time=0.02)
    check_document(s.results, "RandomForestClassifier", ["direct", "threads", "processes"], [10, 4000])
    # The processes cells count the loky workers' CPU.
    assert any(c["worker_cpu_seconds"]["median"] > 0 for c in s.cells if c["backend"] == "processes")
    assert "<table>" in s._repr_html_() and "| rows | backend |" in s._repr_markdown_()
    path = tmp_path / "study.json"
    s.save(path)
    assert json.loads(path.read_text()) == s.results
    r = subprocess.run([cli(), "report", str(path), "-o", str(tmp_path / "study.md")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "study.md").read_text()
    assert "## RandomForestClassifier" in md and "| 4e3 | processes |" in md, md


def test_a_cpuwall_model_is_studied_with_its_own_auto_backend_and_any_estimator_too(rows):
    x, y = rows
    m = cpuwall.from_sklearn(RandomForestClassifier(n_estimators=10, random_state=0).fit(x[:1000], y[:1000]))
    s = cpuwall.study(m, x, sizes=(100,), backends=("direct", "threads", "auto"), min_time=0.01)
    check_document(s.results, "trees", ["direct", "threads", "auto"], [100])
    # An estimator cpuwall cannot convert is studied all the same.
    knn = KNeighborsClassifier().fit(x[:500], y[:500])
    s = cpuwall.study(knn, x, sizes=(50,), backends=("direct", "threads"), min_time=0.01)
    check_document(s.results, "KNeighborsClassifier", ["direct", "threads"], [50])


def test_a_study_is_refused_what_it_cannot_measure(rows):
    x, y = rows
    est = RandomForestClassifier(n_estimators=2, random_state=0).fit(x[:100], y[:100])
    with pytest.raises(ValueError, match="sizes"):
        cpuwall.study(est, x, sizes=(10, 10**6))
    with pytest.raises(ValueError, match="auto is a cpuwall Model's own"):
        cpuwall.study(est, x, backends=("auto",))
    with pytest.raises(TypeError, match="no predict"):
        cpuwall.study(object(), x)
