"""`cpuwall.dask` on a real `distributed` cluster (LocalCluster, 2 worker
processes of 1 thread): predictions equal `model.predict` on the whole data,
with a partition of 0 rows and one of 1 row; the model reaches each worker
once; a worker killed mid-compute costs nothing but time."""
import os
import signal
import sys
import time

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import cloudpickle  # noqa: E402  (distributed's dependency)
import dask  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor  # noqa: E402

import cpuwall  # noqa: E402
import cpuwall.dask  # noqa: E402

# Workers rebuild this module's functions from their bytes, not by import.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

COLUMNS = [f"c{i}" for i in range(8)]


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    x, y = make_classification(n_samples=6000, n_features=8, n_informative=5, n_classes=3, random_state=0)
    return pd.DataFrame(x, columns=COLUMNS), y


def partitions(df, bounds):
    """A dask DataFrame whose partitions are df's rows [a, b) for each bound."""
    parts = [dask.delayed(df.iloc.__getitem__)(slice(a, b)) for a, b in bounds]
    return dd.from_delayed(parts, meta=df.iloc[:0])


BOUNDS = [(0, 0), (0, 1), (1, 1500), (1500, 1500), (1500, 4000), (4000, 6000)]


def test_labels_and_probabilities_equal_the_models_on_the_whole_data(client, data):
    df, y = data
    est = RandomForestClassifier(n_estimators=20, random_state=0).fit(df, y)
    model = cpuwall.from_sklearn(est)
    ddf = partitions(df, BOUNDS)
    labels = cpuwall.dask.predict(model, ddf)
    assert labels.divisions == ddf.divisions and labels.name == "prediction"
    got = labels.compute()
    assert len(got) == len(df)
    np.testing.assert_array_equal(got.to_numpy(), model.predict(df))
    np.testing.assert_array_equal(got.to_numpy(), est.predict(df))
    proba = cpuwall.dask.predict_proba(model, ddf).compute()
    assert list(proba.columns) == ["0", "1", "2"]
    np.testing.assert_array_equal(proba.to_numpy(), model.predict_proba(df))
    # The plain idiom works as written (on partitions with rows: Dask cannot
    # concatenate the arrays a bare predict returns when the first partition
    # is empty, and scikit-learn's own predict refuses 0 rows).
    plain = dd.from_pandas(df, npartitions=5).map_partitions(model.predict, meta=("prediction", "int64"))
    np.testing.assert_array_equal(np.asarray(plain.compute()), model.predict(df))
    # A dask array, chunked along rows and columns.
    arr = da.from_array(df.to_numpy(), chunks=(1700, 4))
    np.testing.assert_array_equal(cpuwall.dask.predict(model, arr).compute(), model.predict(df))
    np.testing.assert_array_equal(cpuwall.dask.predict_proba(model, arr).compute(), model.predict_proba(df))


def test_a_regressor_gives_float64_values(client, data):
    df, y = data
    est = RandomForestRegressor(n_estimators=10, random_state=0).fit(df.to_numpy(), y.astype(float))
    model = cpuwall.from_sklearn(est)
    got = cpuwall.dask.predict(model, partitions(df, BOUNDS)).compute()
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got.to_numpy(), est.predict(df.to_numpy()))


def test_a_multi_output_regressor_gives_a_column_per_output(client, data):
    df, y = data
    targets = np.column_stack([y, df["c0"].to_numpy() * 2])
    est = RandomForestRegressor(n_estimators=10, random_state=0).fit(df.to_numpy(), targets)
    model = cpuwall.from_sklearn(est)
    want = est.predict(df.to_numpy())
    got = cpuwall.dask.predict(model, partitions(df, BOUNDS)).compute()
    assert list(got.columns) == ["prediction_0", "prediction_1"]
    np.testing.assert_array_equal(got.to_numpy(), want)
    arr = da.from_array(df.to_numpy(), chunks=(1700, 4))
    np.testing.assert_array_equal(cpuwall.dask.predict(model, arr).compute(), want)


def test_the_model_reaches_each_worker_once_not_with_every_partition(client, data):
    df, y = data
    model = cpuwall.from_sklearn(RandomForestClassifier(n_estimators=30, random_state=1).fit(df, y))
    before = client.run(lambda: cpuwall._stats["unpickled"])
    ddf = dd.from_pandas(df, npartitions=24)
    cpuwall.dask.predict(model, ddf).compute()
    after = client.run(lambda: cpuwall._stats["unpickled"])
    received = {w: after[w] - before.get(w, 0) for w in after}
    assert sum(received.values()) >= 1
    assert all(n <= 1 for n in received.values()), received
    # Each worker ran with the rule's thread budget: 2 cores, 2 threads.
    assert cpuwall.dask._thread_budget() == max(1, min(client.run(cpuwall.dask._cores).values()) // 2)


def slow_part(df, a, b):
    time.sleep(0.15)
    return df.iloc[a:b]


def test_a_worker_killed_mid_compute_leaves_the_result_complete_and_equal(client, data):
    df, y = data
    model = cpuwall.from_sklearn(RandomForestClassifier(n_estimators=10, random_state=2).fit(df, y))
    bounds = [(i * 250, (i + 1) * 250) for i in range(24)]
    ddf = dd.from_delayed([dask.delayed(slow_part)(df, a, b) for a, b in bounds], meta=df.iloc[:0])
    future = client.compute(cpuwall.dask.predict(model, ddf))
    deadline = time.time() + 30
    while not any(client.processing().values()) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    assert not future.done()  # mid-compute
    os.kill(pid, signal.SIGKILL)  # its nanny starts a new one; Dask reruns what was lost
    got = future.result(timeout=120)
    assert victim not in client.scheduler_info()["workers"]  # it did die
    np.testing.assert_array_equal(got.to_numpy(), model.predict(df))
