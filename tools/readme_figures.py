"""README's table of measured figures, generated from the committed reports.

    python tools/readme_figures.py README.md

Rewrites the lines between `<!-- figures:start -->` and `<!-- figures:end -->`
with a table whose every cell is read from a report under reports/ (and
links to it), so README never quotes a figure by hand. Run by
tools/regenerate-reports.sh after the reports; a report that is missing or
whose format changed is an error, never a stale figure.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def read(rel):
    p = ROOT / rel
    if not p.is_file():
        sys.exit(f"error: {rel} is missing; run tools/regenerate-reports.sh")
    return p.read_text()


def table_rows(text):
    """Rows of the markdown tables in `text`, as lists of stripped cells."""
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]


def need(value, what, rel):
    if value is None:
        sys.exit(f"error: {rel}: cannot find {what}; has its format changed?")
    return value


def stamp(text):
    """'on DATE with cpuwall V (commit C' / 'cpuwall V (C)' as 'C, DATE'."""
    m = re.search(r"on (\d{4}-\d\d-\d\d) with cpuwall [^ ]+ \(commit ([0-9a-f]+)", text)
    if m:
        return f"{m.group(2)[:7]}, {m.group(1)}"
    m = re.search(r"cpuwall [0-9.]+ \(([0-9a-f]+)\)[,;] (\d{4}-\d\d-\d\d)", text)
    if m:
        return f"{m.group(1)[:7]}, {m.group(2)}"
    m = re.search(r"(\d{4}-\d\d-\d\d); cpuwall [0-9.]+ \(([0-9a-f]+)\)", text)
    return f"{m.group(2)[:7]}, {m.group(1)}" if m else "?"


def forest(rel):
    text = read(rel)
    cells = {}
    for r in table_rows(text):
        if len(r) > 6 and r[1] == "1":
            name = r[0].split(" ")[0]
            cells.setdefault(name, r[6])
    cpu = need(cells.get("cpuwall"), "cpuwall's one-thread ratio", rel)
    others = ", ".join(
        f"{n} {cells[n]}" for n in ("ONNX", "TL2cgen") if n in cells
    ).replace("ONNX", "ONNX Runtime")
    isa = need(re.search(r"kernels on `(\w+)`", text), "the ISA", rel).group(1)
    cpu_model = need(re.search(r"machine \(([^,]+), (\d+) cores", text), "the CPU", rel)
    return cpu, others, f"{cpu_model.group(1)}, {isa}", stamp(text)


def gbdt(rel):
    """cpuwall CLI's one-thread ratio to the library and to the fastest
    other predictor, from a gbdt-peers report."""
    text = read(rel)
    m = need(re.search(r"cpuwall's CLI on one thread: ([0-9.]+x) the library's own predict, ([0-9.]+x) the fastest",
                       text), "cpuwall's ratios", rel)
    isa = need(re.search(r"kernels on `(\w+)`", text), "the ISA", rel).group(1)
    cpu_model = need(re.search(r"machine \(([^,]+), (\d+) cores", text), "the CPU", rel)
    return m.group(1), m.group(2), f"{cpu_model.group(1)}, {isa}", stamp(text)


def main():
    readme = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "README.md"
    rows = []

    cpu, others, machine, when = forest("reports/forest-peers/forest-10f2c.md")
    rows.append(
        ("Random forest labels, 1e6 rows, one core (100 trees, 10 features, 2 classes)",
         f"**{cpu}** scikit-learn ({others})", machine, when, "reports/forest-peers/forest-10f2c.md"))
    cpu, others, machine, when = forest("reports/forest-peers/forest-40f4c.md")
    rows.append(
        ("Random forest labels, 1e6 rows, one core (40 features, 4 classes)",
         f"**{cpu}** scikit-learn ({others})", machine, when, "reports/forest-peers/forest-40f4c.md"))

    for lib, name in (("xgboost", "XGBoost"), ("lightgbm", "LightGBM"),
                      ("hist-gradient-boosting", "HistGradientBoosting")):
        rel = f"reports/gbdt-peers/gbdt-{lib}-2c.md"
        own, peer, machine, when = gbdt(rel)
        rows.append(
            (f"{name}, 300 rounds, labels, 1e6 rows x 20 features, one core",
             f"**{own}** {name}'s own predict, {peer} the fastest other predictor", machine, when, rel))

    rel = "reports/sklearn-study/sweep.md"
    text = read(rel)
    verdicts = re.findall(r"^- \*\*(\w+): (.*?)\*\*$", text, re.M)
    need(verdicts or None, "the verdicts", rel)
    env = json.loads(read("reports/sklearn-study/sweep.json"))["environment"]
    machine = f"{env['cpu_model']}, {env['isa']}"
    when = f"{env['git_commit'][:7]}, {env['date'][:10]}"
    for model, verdict in verdicts:
        faster = re.search(r"([0-9.]+×) faster than scikit-learn at (\S+) rows", verdict)
        threads = re.search(r"threads (from \S+ rows|never pay[^;]*)", verdict)
        cell = (f"**{faster.group(1)}** scikit-learn at {faster.group(2)} rows" if faster else "-")
        if threads:
            cell += f"; threads pay {threads.group(1)}"
        rows.append((f"The study's {model}, `predict` by batch size", cell,
                     machine, when, rel))

    rel = "reports/serving.md"
    text = read(rel)
    for model in ("rf", "lr"):
        # The verdict ranks the servers, fastest first: whichever of
        # cpuwall's configurations won.
        m = need(re.search(rf"^- \*\*{model}\*\*: cpuwall ([a-z0-9 ()-]+?) ([0-9,]+ req/s).*?the first is ([0-9.,]+×) the last",
                           text, re.M), f"the {model} verdict", rel)
        where = re.search(r"on (.+?) \((\d+) cores, (\w+)\)", text)
        rows.append((f"Serving {model} at p99 <= 10 ms (HTTP/1.1, one machine)",
                     f"{m.group(2)} ({m.group(1)}), **{m.group(3)}** FastAPI + scikit-learn",
                     f"{where.group(1)}, {where.group(3)}" if where else "?", stamp(text), rel))

    rel = "reports/regression-peers.md"
    text = read(rel)
    machine = need(re.search(r"machine \(([^,]+), (\d+) cores", text), "the CPU", rel).group(1)
    isa = need(re.search(r"on `(\w+)`", text), "the ISA", rel).group(1)
    for r in table_rows(text):
        if r and r[0] in ("Ridge", "RandomForestRegressor") and len(r) > 5:
            what = ("Ridge regressor `predict`, 1e6 rows x 20 features, one core" if r[0] == "Ridge"
                    else "Random forest regressor `predict`, 1e6 rows x 20 features, one core")
            rate = f", reading rows at {r[5]}" if r[5] != "-" else ""
            rows.append((what, f"**{r[4]}** scikit-learn{rate}", f"{machine}, {isa}", stamp(text), rel))

    rel = "reports/python/predict.md"
    text = read(rel)
    env = json.loads(read("reports/python/results.json"))["environment"]
    for r in table_rows(text):
        if r and r[0] == "rf" and len(r) > 6:
            rows.append(("Python `predict`, rf, 1e6 rows / one row",
                         f"**{r[6]}** / **{r[3]}** scikit-learn",
                         f"{env['cpu_model']}, {env['isa']}", f"{env['date'][:10]}", rel))

    for rel, what in (("reports/dask/predict.md", "Dask, rf labels, {rows} rows in Parquet, 2 workers"),
                      ("reports/ray/predict.md", "Ray Data, rf labels, {rows} rows, 2 actors")):
        import csv

        by = {r["predictor"]: r for r in csv.DictReader(read(rel.replace(".md", ".csv")).splitlines())}
        sk, cw = need(by.get("scikit-learn rf"), "scikit-learn rf", rel), need(by.get("cpuwall rf"), "cpuwall rf", rel)
        wall = {k: float(r["wall_seconds"]) for k, r in by.items()}
        rows.append((what.format(rows=f"{int(cw['rows']):.0e}".replace("+0", "")),
                     f"**{wall['scikit-learn rf'] / wall['cpuwall rf']:.2f}x** scikit-learn's wall "
                     f"(the cluster's own cost: {wall['empty']:.2f} s of {wall['cpuwall rf']:.2f} s)",
                     f"{cw['cpu']}, {cw['isa']}", f"{cw['commit'][:7]}", rel))

    out = [START, "",
           "| what | cpuwall against | machine, ISA | commit, date | report |",
           "|---|---|---|---|---|"]
    for what, cell, machine, when, link in rows:
        out.append(f"| {what} | {cell} | {machine} | {when} | [{Path(link).name}]({link}) |")
    out += ["", END]
    text = readme.read_text()
    if START not in text or END not in text:
        sys.exit(f"error: {readme} has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + "\n".join(out) + tail)
    print(f"{readme}: {len(rows)} figures from reports/")


if __name__ == "__main__":
    main()
