#!/usr/bin/env python3
"""The serving baseline: scikit-learn models behind FastAPI + uvicorn, the way
the scikit-learn study's users would serve them, on cpuwall's endpoints so
that `cpuwall load` measures both the same way.

    # fit nb, lr and rf on the study's data; write DIR/NAME.joblib
    python baselines/sklearn_server.py train DIR
    # serve them (uvicorn, 2 worker processes)
    python baselines/sklearn_server.py serve DIR --port 8081 --workers 2

Endpoints (as `cpuwall serve`): GET /health, GET /models,
POST /v1/models/{name}/predict with {"rows": [[...], ...]} -> {"labels": [...]}.

The same fitted models go to cpuwall through tools/export_sklearn.py and
`cpuwall import`, so both servers answer with the same model
(baselines/serving.sh does all of it). Needs scikit-learn, joblib, fastapi,
uvicorn (PyPI).
"""
import argparse
import os
import sys

MODELS = ("nb", "lr", "rf")


def train(out_dir):
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.naive_bayes import GaussianNB

    # The study's data: make_classification(10000 x 10, random_state=0),
    # train_test_split(test_size=0.2, random_state=2020); default parameters.
    x, y = make_classification(n_samples=10000, n_features=10, random_state=0)
    x_train, _, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=2020)
    estimators = {
        "nb": GaussianNB(),
        "lr": LogisticRegression(),
        "rf": RandomForestClassifier(random_state=0),
    }
    os.makedirs(out_dir, exist_ok=True)
    for name, est in estimators.items():
        est.fit(x_train, y_train)
        path = os.path.join(out_dir, f"{name}.joblib")
        joblib.dump(est, path)
        print(f"{path}: {type(est).__name__}", file=sys.stderr)


def app_for(model_dir):
    import joblib
    import numpy as np
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel

    models = {}
    for name in MODELS:
        path = os.path.join(model_dir, f"{name}.joblib")
        if os.path.exists(path):
            models[name] = joblib.load(path)
    if not models:
        sys.exit(f"no models in {model_dir}; run `sklearn_server.py train {model_dir}` first")

    app = FastAPI()

    class Body(BaseModel):
        rows: list[list[float]]

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/models")
    def listing():
        return {
            "models": [
                {
                    "name": n,
                    "family": type(m).__name__,
                    "n_features": int(m.n_features_in_),
                    "classes": [int(c) for c in m.classes_],
                }
                for n, m in models.items()
            ]
        }

    # A plain `def` handler: FastAPI runs it in its thread pool, as users do.
    @app.post("/v1/models/{name}/predict")
    def predict(name: str, body: Body):
        model = models.get(name)
        if model is None:
            raise HTTPException(status_code=404, detail=f"no model '{name}'")
        x = np.asarray(body.rows, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != model.n_features_in_:
            raise HTTPException(status_code=422, detail="wrong feature count")
        return {"labels": model.predict(x).tolist()}

    return app


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="fit nb, lr, rf on the study's data")
    t.add_argument("dir")
    s = sub.add_parser("serve", help="serve DIR's models with uvicorn")
    s.add_argument("dir")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8081)
    s.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    if a.cmd == "train":
        train(a.dir)
        return
    import uvicorn

    # uvicorn's workers import the app by name: hand them the directory.
    os.environ["CPUWALL_BASELINE_MODELS"] = os.path.abspath(a.dir)
    uvicorn.run(
        "sklearn_server:app",
        host=a.host,
        port=a.port,
        workers=a.workers,
        log_level="warning",
        app_dir=os.path.dirname(os.path.abspath(__file__)),
    )


if os.environ.get("CPUWALL_BASELINE_MODELS") and __name__ != "__main__":
    app = app_for(os.environ["CPUWALL_BASELINE_MODELS"])

if __name__ == "__main__":
    main()
