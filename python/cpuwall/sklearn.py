"""`cpuwall.sklearn.Accelerated`: a scikit-learn meta-estimator whose `fit`
fits the wrapped estimator and converts it to a cpuwall Model, and whose
predictions come from cpuwall. It is an ordinary estimator: it clones, takes
`set_params(estimator__...)`, sits inside a `Pipeline` or a `GridSearchCV`,
and pickles with `joblib.dump`.

    from sklearn.ensemble import RandomForestClassifier
    from cpuwall.sklearn import Accelerated
    clf = Accelerated(RandomForestClassifier(n_estimators=200)).fit(X, y)
    clf.predict(X_new)            # cpuwall's labels, equal to the forest's own

Rows are checked as scikit-learn checks them (its messages, its feature-name
rules) and then predicted by cpuwall. `predict_proba`, `predict_log_proba`
and `decision_function` exist where the wrapped estimator has them;
`decision_function` comes from cpuwall for LinearSVC and logistic
regression and from the wrapped estimator for the families whose cpuwall
form has none (boosted trees). An estimator cpuwall cannot convert raises TypeError at `fit`.
A regressor fitted on several targets (a 2-D y, where the wrapped estimator
takes one) predicts a column per target, as scikit-learn's does; a classifier
predicts one label per row.
"""
import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from . import from_sklearn

try:  # scikit-learn >= 1.6
    from sklearn.utils import get_tags
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    get_tags = None
    validate_data = None


def _inner_has(name):
    def check(self):
        return hasattr(self.estimator, name)

    return check


class Accelerated(MetaEstimatorMixin, BaseEstimator):
    """Fit `estimator`, predict with cpuwall.

    estimator: a scikit-learn (or XGBoost / LightGBM sklearn-API) classifier
    or regressor that `cpuwall.from_sklearn` converts. backend, n_threads:
    as `Model.predict` takes them ("auto" picks direct or threads by batch
    size)."""

    def __init__(self, estimator, *, backend="auto", n_threads=None):
        self.estimator = estimator
        self.backend = backend
        self.n_threads = n_threads

    @property
    def _estimator_type(self):  # scikit-learn < 1.6 reads this
        return getattr(self.estimator, "_estimator_type", None)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.target_tags = inner.target_tags
        # Several targets: what the wrapped regressor takes (cpuwall predicts
        # a value per target); a classifier predicts one label per row.
        tags.target_tags.multi_output = inner.target_tags.multi_output and tags.classifier_tags is None
        tags.target_tags.single_output = True
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_label = False
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.sparse = False
        return tags

    def fit(self, X, y=None, **fit_params):
        """Fit a clone of `estimator` on (X, y) and convert it."""
        if type(X).__module__.startswith("scipy.sparse"):
            check_array(X, accept_sparse=False)  # scikit-learn's own TypeError
        shape = None if y is None else np.asarray(y).shape
        if shape is not None and len(shape) == 2:
            if shape[1] != 1 and is_classifier(self.estimator):
                raise ValueError(f"y has {shape[1]} columns; cpuwall's classifiers predict one label per row")
            if shape[1] == 1:
                y = column_or_1d(y, warn=True)  # a column vector, as scikit-learn's regressors warn
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        model = from_sklearn(self.estimator_)
        self.model_ = model
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        else:
            self.n_features_in_ = model.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        if is_classifier(self.estimator_):
            self.classes_ = self.estimator_.classes_
        return self

    def _rows(self, X):
        check_is_fitted(self)
        allow_nan = self.model_._native.routes_missing
        if validate_data is None:  # pragma: no cover
            return np.asarray(X, dtype=np.float64)
        return validate_data(self, X, reset=False, dtype=(np.float64, np.float32),
                             ensure_all_finite="allow-nan" if allow_nan else True)

    def predict(self, X):
        """cpuwall's labels (a regressor: float64 values), one per row (a
        multi-output regressor: a row of values each)."""
        x = self._rows(X)
        return self.model_.predict(x, backend=self.backend, n_threads=self.n_threads)

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X):
        """cpuwall's class probabilities, columns in `classes_` order."""
        x = self._rows(X)
        return self.model_.predict_proba(x)

    @available_if(_inner_has("predict_proba"))
    def predict_log_proba(self, X):
        x = self._rows(X)
        return self.model_.predict_log_proba(x)

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X):
        """cpuwall's decision values for LinearSVC and logistic regression;
        the wrapped estimator's for families whose cpuwall form has none."""
        x = self._rows(X)
        if self.model_.kind in ("svc", "lr"):
            return self.model_.decision_function(x)
        return self.estimator_.decision_function(x)

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifier) or R² (regressor) of cpuwall's predictions,
        as scikit-learn's `score`."""
        pred = self.predict(X)
        if is_classifier(self.estimator_):
            return accuracy_score(y, pred, sample_weight=sample_weight)
        return r2_score(y, pred, sample_weight=sample_weight)
