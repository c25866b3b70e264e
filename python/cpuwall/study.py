"""`cpuwall.study`: the seed study's question, asked of any estimator from a
notebook: when does parallel prediction pay off, and how much of the machine
does it use (CPU time / wall time)?

    import cpuwall
    s = cpuwall.study(RandomForestClassifier().fit(X, y), X, sizes=(100, 10_000, 1_000_000))
    s                       # a table in a notebook (wall, 95% CI, CPU/wall, speedup)
    s.save("study.json")    # the results document `cpuwall sweep` writes;
                            # `cpuwall report study.json` draws it

The estimator is anything with a `predict` (a cpuwall Model, a scikit-learn,
XGBoost or LightGBM estimator, a Pipeline), run the way the study runs it:

  direct     estimator.predict(X[:n]) (a cpuwall Model: on the calling
             thread, backend="direct")
  threads    joblib.Parallel(n_jobs, prefer="threads") over n_jobs contiguous
             chunks of X[:n] (shared memory: the chunks are views)
  processes  joblib.Parallel(n_jobs) on the loky process pool, kept warm
             across calls (the estimator and chunks are pickled to workers)
  auto       a cpuwall Model only: its own predict(X[:n]), cpuwall's
             threads where its measured crossover says they pay

Each cell is timed in samples (tiny calls back to back in one sample) until
it has at least `min_samples` samples and `min_time` seconds; each sample
reads the wall clock, this process's CPU clock (every thread of it: the
threads backend's workers included) and the loky workers' CPU clocks
(psutil), so CPU/wall counts every core the call kept busy. The statistics
(median, its 95% confidence interval, CPU/wall, speedup over direct) and the
machine's description are cpuwall's own, the same code as `cpuwall sweep`.
"""
import html
import json
import os
import time

import numpy as np

from . import _native

_BACKENDS = ("direct", "threads", "processes")
_ALL = _BACKENDS + ("auto",)


def study(estimator, X, sizes=(10, 100, 1_000, 10_000, 100_000), backends=_BACKENDS, *,
          n_jobs=None, min_time=0.2, min_samples=6, name=None):
    """Measure `estimator.predict` on the first n rows of X for every n in
    `sizes`, on each of `backends`; a `Study` (shows as a table in a
    notebook; `.save(path)` writes the results document)."""
    import joblib

    try:
        import psutil
    except ImportError as e:  # pragma: no cover - psutil is a test dependency
        raise ImportError("cpuwall.study reads worker processes' CPU with psutil: pip install psutil") from e
    if not hasattr(estimator, "predict"):
        raise TypeError(f"{type(estimator).__name__} has no predict method")
    from . import Model

    native = isinstance(estimator, Model)
    unknown = [b for b in backends if b not in (_ALL if native else _BACKENDS)]
    if unknown or not backends:
        raise ValueError(f"backends={tuple(backends)!r}: choose from {_ALL if native else _BACKENDS}"
                         + ("" if native else " (auto is a cpuwall Model's own)"))
    if "direct" not in backends:
        backends = ("direct",) + tuple(backends)  # the reference every cell is compared with
    n_jobs = int(n_jobs or os.cpu_count() or 1)
    if n_jobs < 1:
        raise ValueError("n_jobs must be at least 1")
    if min_samples < 1 or not min_time >= 0:
        raise ValueError("min_samples must be at least 1 and min_time a number of seconds >= 0")
    x = X if hasattr(X, "iloc") else np.asarray(X)  # a DataFrame stays one (its chunks: row slices)
    n_rows = len(x)
    sizes = sorted({int(n) for n in sizes})
    if not sizes or sizes[0] < 1 or sizes[-1] > n_rows:
        raise ValueError(f"sizes={sizes}: each must be between 1 and X's {n_rows} rows")
    if name is None:
        name = estimator.kind if native else type(estimator).__name__
    predict = (lambda rows: estimator.predict(rows, backend="direct")) if native else estimator.predict
    me = psutil.Process()
    started = time.perf_counter()
    cells = []
    rows_of = (lambda n: x.iloc[:n]) if hasattr(x, "iloc") else (lambda n: x[:n])
    with joblib.Parallel(n_jobs=n_jobs, prefer="threads") as threads, \
            joblib.Parallel(n_jobs=n_jobs, backend="loky") as processes:
        def chunked(pool):
            def call(rows):
                parts = np.array_split(np.arange(len(rows)), min(n_jobs, len(rows)))
                pieces = [rows.iloc[p[0]:p[-1] + 1] if hasattr(rows, "iloc") else rows[p[0]:p[-1] + 1]
                          for p in parts]
                return np.concatenate(pool(joblib.delayed(predict)(c) for c in pieces))
            return call

        calls = {"direct": predict, "threads": chunked(threads), "processes": chunked(processes),
                 "auto": estimator.predict}
        if "processes" in backends:
            # Start the pool (and unpickle the estimator in each worker) once,
            # before any cell is timed.
            calls["processes"](rows_of(min(sizes[-1], 2 * n_jobs)))
            _settle(me)
        for n in sizes:
            rows = rows_of(n)
            expected = np.asarray(predict(rows))
            for backend in backends:
                call = calls[backend]
                same = bool(np.array_equal(np.asarray(call(rows)), expected))  # also the warm-up
                # Only the process pool's workers work for a call; their CPU
                # is not counted in the other cells.
                usages = _sample(call, rows, min_time, min_samples, me if backend == "processes" else None)
                parallel = 1 if backend == "direct" else min(n_jobs, n)
                for u in usages:
                    u["parallelism"] = parallel
                cells.append({"model": name, "backend": backend, "rows": n, "usages": usages,
                              "identical_to_direct": same})
    settings = {"models": [name], "backends": list(backends), "rows": sizes, "min_time_seconds": float(min_time),
                "max_repeats": 0, "threads": n_jobs, "workers": n_jobs, "seed": 0}
    doc = _native.sweep_document(json.dumps(settings), json.dumps(cells), time.perf_counter() - started)
    return Study(json.loads(doc))


def _children_cpu(me):
    """CPU seconds of this process's children (the loky workers): from
    /proc/PID/schedstat where Linux has it (nanoseconds), else psutil's
    clock-tick counts."""
    total = 0.0
    for c in me.children(recursive=True):
        try:
            with open(f"/proc/{c.pid}/schedstat") as f:
                total += int(f.read().split()[0]) / 1e9
            continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            t = c.cpu_times()
            total += t.user + t.system
        except Exception:  # a worker that exited between listing and reading
            pass
    return total


def _settle(me, seconds=10.0):
    """Wait until the workers' CPU stops moving (loky workers importing
    numpy and the estimator's modules after their first task), so no cell
    pays for their start."""
    last = _children_cpu(me)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        time.sleep(0.1)
        now = _children_cpu(me)
        if now - last < 0.002:
            return
        last = now


def _sample(call, rows, min_time, min_samples, me):
    """Timed samples of `call(rows)`: a sample times enough calls back to back
    to last about a millisecond (the clocks' granularity stays small)."""
    t = time.perf_counter()
    call(rows)
    one = max(time.perf_counter() - t, 1e-9)
    per_sample = max(1, int(1e-3 / one))
    usages, total = [], 0.0
    children = (lambda: _children_cpu(me)) if me is not None else (lambda: 0.0)
    while len(usages) < min_samples or total < min_time:
        w0 = children()
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(per_sample):
            call(rows)
        wall = time.perf_counter() - t0
        own = time.process_time() - c0
        workers = children() - w0
        usages.append({"wall_seconds": wall / per_sample, "own_cpu_seconds": own / per_sample,
                       "worker_cpu_seconds": workers / per_sample, "calls": per_sample})
        total += wall
    return usages


class Study:
    """A study's results: `results` (the `cpuwall-sweep` document),
    `save(path)`, and a table in notebooks and `print`."""

    def __init__(self, results):
        self.results = results

    @property
    def cells(self):
        return self.results["cells"]

    def save(self, path):
        """Write the results document (atomically): `cpuwall report PATH`
        draws it, with `--baseline` beside a scikit-learn sweep."""
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(self.results, f)
            f.write("\n")
        os.replace(tmp, path)

    def _table(self):
        head = ["rows", "backend", "wall (median)", "95% CI", "CPU/wall", "speedup vs direct", "same as direct"]
        body = []
        for c in self.cells:
            lo, hi = c["wall_seconds_ci95"]
            body.append([f"{c['rows']:,}", c["backend"], _seconds(c["wall_seconds"]["median"]),
                         f"{_seconds(lo)} - {_seconds(hi)}", f"{c['cpu_per_wall']:.2f}",
                         f"{c['speedup_vs_direct']:.2f}x" if c.get("speedup_vs_direct") else "-",
                         "yes" if c["identical_to_direct"] else "NO"])
        return head, body

    def _title(self):
        env = self.results["environment"]
        model = ", ".join(self.results["settings"]["models"])
        return (f"{model} on {env['cpu_model']} ({env['cores']} cores), "
                f"{self.results['settings']['threads']} jobs, noise {self.results['noise']:.1%}")

    def _repr_markdown_(self):
        head, body = self._table()
        lines = [f"**{self._title()}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)

    def _repr_html_(self):
        head, body = self._table()
        e = html.escape
        rows = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in r) + "</tr>" for r in body)
        return (f"<p><b>{e(self._title())}</b></p><table><thead><tr>"
                + "".join(f"<th>{e(h)}</th>" for h in head) + f"</tr></thead><tbody>{rows}</tbody></table>")

    def __repr__(self):
        return self._repr_markdown_()


def _seconds(s):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"
