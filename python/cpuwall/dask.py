"""`cpuwall.dask`: a cpuwall Model predicting Dask collections, on a
`distributed` cluster or Dask's local schedulers.

    import cpuwall, cpuwall.dask
    model = cpuwall.from_sklearn(fitted)            # or cpuwall.load(path)
    labels = cpuwall.dask.predict(model, ddf)       # lazy dask Series, ddf's divisions
    proba = cpuwall.dask.predict_proba(model, ddf)  # lazy DataFrame, one column per class
    labels.compute()

The plain idiom works as written too: `ddf.map_partitions(model.predict,
meta=...)` (a Model pickles as its model file's bytes); `predict` adds what
it does not: the model travels once, not with every partition.

How the model travels: it is one node of the task graph (`dask.delayed`),
which every partition's task depends on. The scheduler runs that node on
one worker and the others fetch its result from a peer, so each worker
receives and unpickles the model once, however many partitions it predicts.
A worker that dies takes nothing that cannot be rebuilt: the model's node
is in the graph, and Dask reruns what was lost.

Threads, without oversubscription: a Dask worker already runs
`threads_per_worker` tasks at once. Each task predicts with
`backend="auto"` and at most `n_threads = max(1, cores // threads)` threads,
where `cores` is what a worker's process may run on
(`os.sched_getaffinity`) and `threads` is every Dask thread of every worker
on that host (from the scheduler); with several hosts, the smallest such
figure (a task may run on any of them). Two single-threaded workers on a 2-core
host predict on one thread each; one single-threaded worker on 16 cores may
use all 16 where `auto` says threads pay. `n_threads=` overrides the rule.
"""
import os

import numpy as np

from . import Model

__all__ = ["predict", "predict_proba"]


def predict(model, data, *, n_threads=None, columns="by-name"):
    """Lazy labels (a regressor: float64 values) of every row of `data`, a
    `dask.dataframe.DataFrame` (-> Series named "prediction", same
    divisions) or a 2-D `dask.array.Array` (-> 1-D array, same row chunks).
    A multi-output regressor gives a DataFrame with columns
    "prediction_0".. (or a 2-D array): its values, a column per output."""
    return _apply(model, data, "predict", n_threads, columns)


def predict_proba(model, data, *, n_threads=None, columns="by-name"):
    """Lazy class probabilities: a DataFrame with one column per class
    (named by `model.classes_`) for a dask DataFrame, a 2-D array for a
    dask array."""
    if model.task == "regression":
        raise AttributeError("a regressor has no predict_proba; predict gives its values")
    return _apply(model, data, "predict_proba", n_threads, columns)


def _apply(model, data, method, n_threads, columns):
    import dask
    import dask.array as da
    import dask.dataframe as dd

    if not isinstance(model, Model):
        raise TypeError(f"model is a {type(model).__name__}; give a cpuwall Model (cpuwall.from_sklearn, cpuwall.load)")
    if n_threads is not None and int(n_threads) < 1:
        raise ValueError("n_threads must be at least 1")
    budget = int(n_threads) if n_threads is not None else _thread_budget()
    shipped = dask.delayed(model, pure=True, traverse=False)
    if isinstance(data, dd.DataFrame):
        by_name = model.feature_names_in_ is not None
        meta = _meta(model, method, data)
        return data.map_partitions(_predict_partition, shipped, method, budget, columns, by_name,
                                   meta=meta, enforce_metadata=False)
    if isinstance(data, da.Array):
        if data.ndim != 2:
            raise ValueError(f"data has {data.ndim} dimensions; give a 2-D array of rows x features")
        if data.numblocks[1] != 1:
            data = data.rechunk({1: -1})  # each block holds whole rows
        k = _columns(model, method)
        dtype = np.float64 if (method != "predict" or model.task == "regression") else model.classes_.dtype
        blocks = data.to_delayed().ravel()
        parts = []
        for b, rows in zip(blocks, data.chunks[0]):
            out = dask.delayed(_predict_block, pure=True)(shipped, b, method, budget)
            shape = (rows,) if k == 0 else (rows, k)
            parts.append(da.from_delayed(out, shape=shape, dtype=dtype))
        return da.concatenate(parts, axis=0)
    raise TypeError(f"data is a {type(data).__name__}; give a dask DataFrame or a 2-D dask array "
                    "(a numpy array or pandas DataFrame: call model.predict directly)")


def _meta(model, method, data):
    import pandas as pd

    index = data._meta.index
    if method == "predict" and model.n_outputs > 1:
        return pd.DataFrame({c: np.empty(0, dtype=np.float64) for c in _output_names(model)}, index=index[:0])
    if method == "predict":
        dtype = np.float64 if model.task == "regression" else model.classes_.dtype
        return pd.Series(np.empty(0, dtype=dtype), index=index[:0], name="prediction")
    return pd.DataFrame({str(c): np.empty(0, dtype=np.float64) for c in model.classes_}, index=index[:0])


def _predict_partition(part, model, method, budget, columns, by_name):
    import pandas as pd

    # A model without feature names reads columns by position (no notice
    # per partition); a named one matches the partition's names.
    rows = part if by_name else part.to_numpy()
    if method == "predict":
        out = model.predict(rows, backend="auto", n_threads=budget, columns=columns)
        if out.ndim == 2:
            return pd.DataFrame(out, index=part.index, columns=_output_names(model))
        return pd.Series(out, index=part.index, name="prediction")
    p = model.predict_proba(rows, columns=columns)
    return pd.DataFrame(p, index=part.index, columns=[str(c) for c in model.classes_])


def _columns(model, method):
    """Columns of a block's result: 0 for a 1-D one."""
    if method == "predict":
        return model.n_outputs if model.n_outputs > 1 else 0
    return len(model.classes_)


def _output_names(model):
    return [f"prediction_{o}" for o in range(model.n_outputs)]


def _predict_block(model, block, method, budget):
    if method == "predict":
        return model.predict(block, backend="auto", n_threads=budget)
    return model.predict_proba(block)


def _thread_budget():
    """Threads each task may use (the module's rule): this host's cores over
    the Dask threads running on it. Evaluated where the graph is built: the
    scheduler's view of the workers, each host's core count from a worker
    on it."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is None:
        # Dask's local schedulers: the threaded one runs a task per core.
        return 1
    workers = client.scheduler_info(n_workers=-1)["workers"] if _takes_n_workers(client) \
        else client.scheduler_info()["workers"]
    if not workers:
        return 1
    threads_on, one_worker_on = {}, {}
    for address, w in workers.items():
        host = w.get("host", address)
        threads_on[host] = threads_on.get(host, 0) + int(w.get("nthreads", 1))
        one_worker_on.setdefault(host, address)
    cores = client.run(_cores, workers=list(one_worker_on.values()))
    budgets = [max(1, cores[a] // threads_on[h]) for h, a in one_worker_on.items() if a in cores]
    return min(budgets) if budgets else 1


def _takes_n_workers(client):
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
