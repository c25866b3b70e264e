//! `cpuwall._native`: the Python package's binding over the cpuwall library.
//! Glue only, as `src/cli/` is: every rule (model files, imports, columns
//! matched to features, finiteness, backends) is the library's, so Python
//! and the CLI give the same answers and the same error texts. The GIL is
//! released around every prediction.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ndarray::{ArrayView2, ShapeBuilder};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use cpuwall::data::columns::{align, ColumnRule};
use cpuwall::exec::build::BackendSetup;
use cpuwall::exec::{Backend, BackendKind};
use cpuwall::model::store::{self, ModelHeader, StoredModel};
use cpuwall::model::{Model, Predictor, ScoreKind};

/// Where the rows came from, in error texts ("X: row 3 column 2 is NaN ...").
const ORIGIN: &str = "X";

/// A library error as Python's: bad input (exit 2 on the CLI) is a
/// ValueError, a runtime failure a RuntimeError; the text is the CLI's.
fn py_err(e: cpuwall::Error) -> PyErr {
    let text = python_words(&e.to_string());
    match e.exit_code() {
        2 => PyValueError::new_err(text),
        _ => PyRuntimeError::new_err(text),
    }
}

/// The library's texts name the CLI's flags; Python's name the arguments
/// and the DataFrame.
fn python_words(text: &str) -> String {
    let mut out = text.replace("--columns by-position", "columns=\"by-position\"");
    if let Some(at) = out.find("name it with --label ") {
        let label = out[at + "name it with --label ".len()..].to_string();
        out.replace_range(
            at..,
            &format!("drop it from X (X.drop(columns=\"{label}\"))"),
        );
    }
    out
}

/// A loaded model and the backends built for it, reused across calls.
#[pyclass(module = "cpuwall._native", frozen)]
struct NativeModel {
    model: Arc<Model>,
    header: ModelHeader,
    /// Threads and auto backends by (kind, threads): building one starts a
    /// team of threads, so it is built once. A call that finds its backend
    /// busy (another Python thread is predicting on it) runs direct.
    backends: Mutex<HashMap<(BackendKind, usize), Box<dyn Backend>>>,
}

impl NativeModel {
    fn new(stored: StoredModel) -> Self {
        NativeModel {
            model: Arc::new(stored.model),
            header: stored.header,
            backends: Mutex::new(HashMap::new()),
        }
    }

    /// `x`'s rows in the model's feature order: as they are (zero-copy,
    /// C or Fortran order), or, when a DataFrame's column `names` are given,
    /// matched to the model's features by the CLI's rule (`columns`). Also
    /// a notice for people (columns reordered or taken by position). Not
    /// yet checked finite: the caller checks, with the prediction if it can.
    fn rows<'a>(
        &self,
        x: &'a PyReadonlyArray2<'_, f64>,
        names: Option<Vec<String>>,
        columns: &str,
    ) -> PyResult<(Rows<'a>, Option<String>)> {
        let (n, d) = (x.shape()[0], x.shape()[1]);
        let data = x.as_slice().map_err(|_| {
            PyValueError::new_err("X is not contiguous; pass np.ascontiguousarray(X)")
        })?;
        let view = if x.is_fortran_contiguous() && !x.is_c_contiguous() {
            ArrayView2::from_shape((n, d).f(), data)
        } else {
            ArrayView2::from_shape((n, d), data)
        }
        .map_err(|e| PyValueError::new_err(format!("X: {e}")))?;
        let origin = Path::new(ORIGIN);
        let (rows, notice) = match names {
            Some(names) => {
                let rule = match columns {
                    "by-name" => ColumnRule::ByName,
                    "by-position" => ColumnRule::ByPosition,
                    other => {
                        return Err(PyValueError::new_err(format!(
                            "columns={other:?}: use \"by-name\" or \"by-position\""
                        )))
                    }
                };
                if names.len() != d {
                    return Err(PyValueError::new_err(format!(
                        "{} column names for {d} columns",
                        names.len()
                    )));
                }
                let features = self.header.features();
                let want = features.wanted("the model's");
                let (owned, note) =
                    align(origin, view.to_owned(), &names, &want, rule).map_err(py_err)?;
                (Rows::Owned(owned), note)
            }
            None => (Rows::View(view), None),
        };
        let nf = self.model.n_features();
        if rows.view().ncols() != nf {
            return Err(py_err(cpuwall::Error::data(
                origin,
                format!(
                    "{} feature columns but the model was trained on {nf}; give data with {nf} feature columns",
                    rows.view().ncols()
                ),
            )));
        }
        Ok((rows, notice.map(|n| python_words(&n))))
    }

    /// [`Self::rows`], every value checked as the model requires (finite,
    /// or NaN where its splits route it), for the score paths, whose
    /// kernels do not check as `predict_finite` does.
    fn checked_rows<'a>(
        &self,
        x: &'a PyReadonlyArray2<'_, f64>,
        names: Option<Vec<String>>,
        columns: &str,
    ) -> PyResult<(Rows<'a>, Option<String>)> {
        let (rows, notice) = self.rows(x, names, columns)?;
        cpuwall::data::check_features(
            rows.view(),
            Path::new(ORIGIN),
            0,
            self.model.routes_missing(),
        )
        .map_err(py_err)?;
        Ok((rows, notice))
    }

    /// Predict `x` into `out` on `kind` (direct, threads or auto) with
    /// `threads` threads, refusing non-finite features.
    fn predict_on(
        &self,
        kind: BackendKind,
        threads: usize,
        x: ArrayView2<'_, f64>,
        out: &mut [i64],
    ) -> cpuwall::Result<()> {
        let origin = Path::new(ORIGIN);
        // Direct, or the backend is busy with another Python thread's call:
        // this one runs on the calling thread.
        let locked = match kind {
            BackendKind::Direct => None,
            _ => self.backends.try_lock().ok(),
        };
        let Some(mut backends) = locked else {
            return cpuwall::model::predict_finite(self.model.as_ref(), x, out, origin);
        };
        let backend = match backends.entry((kind, threads)) {
            std::collections::hash_map::Entry::Occupied(b) => b.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let mut setup = BackendSetup::new(
                    self.model.clone(),
                    PathBuf::new(),
                    self.header.data_hash.clone(),
                )?;
                setup.threads = threads;
                v.insert(kind.build(&setup)?)
            }
        };
        backend.predict_finite(x, out, origin)?;
        // No call may come for a while: the team stops spinning.
        backend.rest();
        Ok(())
    }
}

/// Rows borrowed from the caller's array, or reordered into a copy.
enum Rows<'a> {
    View(ArrayView2<'a, f64>),
    Owned(ndarray::Array2<f64>),
}

impl Rows<'_> {
    fn view(&self) -> ArrayView2<'_, f64> {
        match self {
            Rows::View(v) => v.view(),
            Rows::Owned(a) => a.view(),
        }
    }
}

/// Cores this process may use, read once: the standard library reads the
/// cgroup's quota files on every call (measured here: a one-row predict
/// call went from 16 µs to 4.5 µs when this was cached).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(cpuwall::exec::build::cores)
}

fn backend_kind(name: &str) -> PyResult<BackendKind> {
    match name {
        "direct" => Ok(BackendKind::Direct),
        "threads" => Ok(BackendKind::Threads),
        "auto" => Ok(BackendKind::Auto),
        other => Err(PyValueError::new_err(format!(
            "backend={other:?}: use \"auto\", \"direct\" or \"threads\""
        ))),
    }
}

#[pymethods]
impl NativeModel {
    /// A model from scikit-learn's exchange document (JSON text), as
    /// `cpuwall import` reads it; `origin` names it in errors.
    #[staticmethod]
    fn from_exchange_json(text: &str, origin: &str) -> PyResult<Self> {
        let stored =
            cpuwall::interop::import_bytes(Path::new(origin), text.as_bytes()).map_err(py_err)?;
        Ok(Self::new(stored))
    }

    /// A model file's bytes as `cpuwall import` reads them (XGBoost JSON
    /// or UBJSON, LightGBM text, ONNX, scikit-learn exchange JSON); `origin`
    /// names it in errors.
    #[staticmethod]
    fn import_bytes(data: &[u8], origin: &str) -> PyResult<Self> {
        let stored = cpuwall::interop::import_bytes(Path::new(origin), data).map_err(py_err)?;
        Ok(Self::new(stored))
    }

    /// A `.cpuwall` model file.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        Ok(Self::new(store::load(&path).map_err(py_err)?))
    }

    /// An ONNX file (or scikit-learn exchange JSON), as `cpuwall import` reads it.
    #[staticmethod]
    fn import_file(path: PathBuf) -> PyResult<Self> {
        Ok(Self::new(cpuwall::interop::import(&path).map_err(py_err)?))
    }

    /// A model file's bytes (pickling).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        let stored = store::decode(data)
            .map_err(|p| PyValueError::new_err(format!("not a cpuwall model: {p}")))?;
        Ok(Self::new(stored))
    }

    /// The model file's bytes, exactly as `save` writes them.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &store::encode(&self.header, &self.model))
    }

    /// Write the model file (atomically: a temporary file, then a rename).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        store::save(&path, &self.header, &self.model).map_err(py_err)
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.model.kind().short()
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.model.n_features()
    }

    /// Whether a NaN feature is data for this model (routed by its splits).
    #[getter]
    fn routes_missing(&self) -> bool {
        self.model.routes_missing()
    }

    /// `"classification"` or `"regression"`: whether `predict`'s words are
    /// labels or the bits of float64 values.
    #[getter]
    fn task(&self) -> &'static str {
        self.model.task().as_str()
    }

    /// The model's integer classes (codes 0..k-1 when `class_names` are set).
    #[getter]
    fn classes(&self) -> Vec<i64> {
        self.model.classes().to_vec()
    }

    #[getter]
    fn class_names(&self) -> Vec<String> {
        self.header.class_names.clone()
    }

    /// Values a row: 1, or a multi-output regressor's count.
    #[getter]
    fn n_outputs(&self) -> usize {
        self.model.n_outputs()
    }

    #[getter]
    fn feature_names(&self) -> Vec<String> {
        self.header.feature_names()
    }

    #[getter]
    fn feature_names_generated(&self) -> bool {
        self.header.features().generated
    }

    /// The header as `cpuwall inspect --format json` prints it (`path`:
    /// where the model came from, `<memory>` when it was converted here).
    fn header_json(&self) -> String {
        cpuwall::report::model::header_json(&self.header, Path::new("<memory>"))
    }

    /// Labels (the model's integer classes) or, for a regressor, its values'
    /// bits (`.view(np.float64)` reads them in place), and a notice, if any.
    #[pyo3(signature = (x, names=None, columns="by-name", backend="auto", n_threads=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        names: Option<Vec<String>>,
        columns: &str,
        backend: &str,
        n_threads: Option<usize>,
    ) -> PyResult<(Bound<'py, PyArray1<i64>>, Option<String>)> {
        let kind = backend_kind(backend)?;
        let threads = match n_threads {
            Some(0) => return Err(PyValueError::new_err("n_threads must be at least 1")),
            Some(t) if t > 1024 => {
                return Err(PyValueError::new_err("n_threads must be at most 1024"))
            }
            Some(t) => t,
            None => cores(),
        };
        let (rows, notice) = self.rows(&x, names, columns)?;
        let view = rows.view();
        let n = view.nrows();
        // The labels land in an array numpy allocates and nobody zeroes:
        // every `predict_into` writes each element of its `out` and reads
        // none (the trait's contract), and on an error the array is dropped
        // unseen. Zeroing 8 MB per 1e6 labels cost 0.3-0.6 ms of an 8 ms nb
        // call (Rust probe), and numpy's large arrays (huge pages) took fewer
        // page faults than a fresh Rust `Vec`: nb at 1e6 x 10, AVX-512, the
        // median of 60 calls back to back, builds alternated: unzeroed Vec
        // 7.1-9.2 ms, this 7.2-8.8 ms, a zeroed numpy array 8.1-8.4 ms.
        // SAFETY: see above; the array is written whole before Python sees it.
        // A multi-output regressor's values come a row's outputs side by
        // side: Python reshapes them to (n, outputs).
        let array = unsafe { PyArray1::<i64>::new(py, n * self.model.n_outputs(), false) };
        {
            let mut rw = array.readwrite();
            let labels = rw.as_slice_mut().expect("a new 1-D array is contiguous");
            py.detach(|| self.predict_on(kind, threads, view, labels))
                .map_err(py_err)?;
        }
        Ok((array, notice))
    }

    /// `("probability" | "decision", scores n x columns, notice)`.
    #[pyo3(signature = (x, names=None, columns="by-name"))]
    fn scores<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        names: Option<Vec<String>>,
        columns: &str,
    ) -> PyResult<(&'static str, Bound<'py, PyAny>, Option<String>)> {
        let (rows, notice) = self.checked_rows(&x, names, columns)?;
        let view = rows.view();
        let (kind, scores) = py.detach(|| self.model.scores(view));
        // Handed over as it is, not copied (16 MB for 1e6 rows of two
        // classes).
        let array = PyArray2::from_owned_array(py, scores).into_any();
        let kind = match kind {
            ScoreKind::Probability => "probability",
            ScoreKind::Decision => "decision",
            ScoreKind::Votes => "votes",
            ScoreKind::Value => "value",
        };
        Ok((kind, array, notice))
    }

    /// A logistic regression's decision values (its linear margins, one
    /// column per output, as scikit-learn's `decision_function`); `None`
    /// for other families (LinearSVC's come from `scores`).
    #[pyo3(signature = (x, names=None, columns="by-name"))]
    fn margins<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        names: Option<Vec<String>>,
        columns: &str,
    ) -> PyResult<Option<(Bound<'py, PyAny>, Option<String>)>> {
        let Some(lr) = self
            .model
            .downcast_ref::<cpuwall::model::logistic::LogisticRegression>()
        else {
            return Ok(None);
        };
        let (rows, notice) = self.checked_rows(&x, names, columns)?;
        let view = rows.view();
        let margins = py.detach(|| lr.linear.decision_function(view));
        Ok(Some((
            PyArray2::from_owned_array(py, margins).into_any(),
            notice,
        )))
    }
}

/// Which vector ISA the kernels use in this process (the CPU's widest, or
/// `CPUWALL_ISA`).
#[pyfunction]
fn isa() -> String {
    cpuwall::isa::current().name().to_string()
}

/// A `cpuwall-sweep` results document (JSON text) from cells measured in
/// Python (`cpuwall.study`): `settings` and `cells` are JSON in the
/// library's shapes (`Settings`, `SampledCell`); the statistics and this
/// machine's environment are the library's, as `cpuwall sweep` writes them.
#[pyfunction]
fn sweep_document(settings: &str, cells: &str, elapsed_seconds: f64) -> PyResult<String> {
    use cpuwall::measure::results::sweep::{SampledCell, Settings, SweepResults};
    let origin = Path::new("cpuwall.study");
    let bad = |e: serde_json::Error| PyValueError::new_err(format!("cpuwall.study: {e}"));
    let settings: Settings = serde_json::from_str(settings).map_err(bad)?;
    let cells: Vec<SampledCell> = serde_json::from_str(cells).map_err(bad)?;
    let doc =
        SweepResults::from_samples(origin, settings, cells, elapsed_seconds).map_err(py_err)?;
    serde_json::to_string(&doc).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The CLI's rule: a CPUWALL_ISA this CPU cannot run is refused, with
    // the CLI's message, before anything predicts.
    cpuwall::isa::from_env().map_err(PyValueError::new_err)?;
    m.add_class::<NativeModel>()?;
    m.add_function(wrap_pyfunction!(isa, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_document, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAGIC", PyBytes::new(m.py(), store::MAGIC))?;
    Ok(())
}
