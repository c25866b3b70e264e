"""`cpuwall.bench(estimator, X)`: the estimator's own `predict` and cpuwall's
on the user's rows, in one run, interleaved (so a noisy neighbour slows
both alike), each with the median and a 95% confidence interval of the
median, and the labels compared."""
import math
import time


def median_ci(samples):
    """Median and a distribution-free 95% CI of the median (order statistics,
    the binomial(n, 1/2) ranks), as cpuwall's own reports compute it."""
    s = sorted(samples)
    n = len(s)
    mid = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    if n < 6:
        return mid, (s[0], s[-1])
    # Normal approximation of the binomial ranks; exact enough from n = 6.
    half = 1.96 * math.sqrt(n) / 2
    lo = max(0, int(math.floor(n / 2 - half)))
    hi = min(n - 1, int(math.ceil(n / 2 + half)) - 1)
    return mid, (s[lo], s[hi])


def per_call(call, min_seconds):
    """Seconds per call of `call`, timed in a batch of calls lasting at least `min_seconds`."""
    calls = 0
    start = time.perf_counter()
    while True:
        call()
        calls += 1
        took = time.perf_counter() - start
        if took >= min_seconds:
            return took / calls


def bench(estimator, X, *, rounds=11, min_seconds=0.05, backend="auto", model=None, file=None):
    """Time `estimator.predict(X)` and cpuwall's on the same rows, interleaved
    over `rounds` rounds; print a table and return the figures. `model`: an
    already converted cpuwall Model (default: `from_sklearn(estimator)`)."""
    import sys

    import numpy as np

    from . import from_sklearn

    model = model if model is not None else from_sklearn(estimator)
    want, got = np.asarray(estimator.predict(X)), model.predict(X, backend=backend)
    same = bool(np.array_equal(want, got))
    # A regressor's values: how far from the estimator's, where not equal.
    diff = float(np.max(np.abs(got - want))) if model.task == "regression" and len(want) else 0.0
    sk, cw = [], []
    for r in range(rounds):
        order = [("sk", lambda: estimator.predict(X)), ("cw", lambda: model.predict(X, backend=backend))]
        for name, call in order if r % 2 == 0 else order[::-1]:
            (sk if name == "sk" else cw).append(per_call(call, min_seconds))
    (skm, skci), (cwm, cwci) = median_ci(sk), median_ci(cw)
    rows = len(X)
    out = {
        "rows": rows,
        "rounds": rounds,
        "sklearn_seconds": skm,
        "sklearn_ci95": skci,
        "cpuwall_seconds": cwm,
        "cpuwall_ci95": cwci,
        "speedup": skm / cwm,
        "labels_identical": same,
        "max_abs_diff": diff,
        "backend": backend,
    }
    f = file or sys.stdout

    def fmt(s):
        return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"

    print(f"{type(estimator).__name__} on {rows} rows, {rounds} interleaved rounds (median, 95% CI):", file=f)
    print(f"  scikit-learn predict  {fmt(skm)} ({fmt(skci[0])} - {fmt(skci[1])})", file=f)
    print(f"  cpuwall predict       {fmt(cwm)} ({fmt(cwci[0])} - {fmt(cwci[1])})  backend {backend}", file=f)
    if model.task == "regression":
        agree = "values identical" if same else f"values within {diff:.2g}"
    else:
        agree = f"labels {'identical' if same else 'DIFFER'}"
    print(f"  cpuwall is {skm / cwm:.1f}x scikit-learn; {agree}", file=f)
    return out
