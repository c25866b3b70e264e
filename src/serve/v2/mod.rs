//! The Open Inference Protocol (KServe v2 REST): what KServe, Triton,
//! Seldon MLServer and OpenVINO Model Server speak, so their clients
//! (tritonclient, KServe's) and gateways work against `cpuwall serve`.
//!
//! This file is the protocol only (parsing and encoding, no I/O): an infer
//! request becomes rows for the batcher ([`parse_infer`]); the batcher's
//! answer becomes the response ([`encode_infer`]); model metadata is built
//! once per model ([`ModelInfo`]). Each model has one input, any name,
//! `[N, F]` of a numeric datatype (FP64, FP32, INT*, UINT*, BOOL), `data`
//! flat or nested as the client likes, and two outputs: `label` (`[N]`,
//! INT64, or BYTES for string classes) and `probabilities` (`[N, K]`, FP64;
//! not for LinearSVC). The binary tensor data extension is spoken both
//! ways (`Inference-Header-Content-Length`): tritonclient sends and asks
//! for binary tensors by default.

mod tensor;

use serde::Deserialize;
use serde_json::{Map, Value};

use tensor::{Dtype, Flat};

/// The request header that splits a body into JSON and binary tensors.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// Output names (a classifier's label, a regressor's prediction).
pub const LABEL: &str = "label";
pub const PREDICTION: &str = "prediction";
pub const PROBABILITIES: &str = "probabilities";

/// What a model exposes, for metadata and for checking requests.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    /// `cpuwall_<family>`, as Triton's platforms (`onnxruntime_onnx`).
    pub platform: String,
    pub n_features: usize,
    pub classes: Vec<i64>,
    /// The estimator's string labels, when it had them (label is BYTES).
    pub class_names: Vec<String>,
    pub has_proba: bool,
    /// Whether NaN in a binary FP32/FP64 tensor is a missing value the
    /// model routes (else refused).
    pub missing: bool,
    /// A regressor: its one output is `prediction`, FP64.
    pub regression: bool,
    /// A regressor's values a row: `prediction` is `[n]` for one, `[n,
    /// outputs]` for several.
    pub outputs: usize,
}

impl ModelInfo {
    /// `GET /v2/models/{name}`.
    pub fn metadata(&self) -> Value {
        let shape = if self.regression && self.outputs > 1 {
            serde_json::json!([-1, self.outputs])
        } else {
            serde_json::json!([-1])
        };
        let mut outputs = vec![serde_json::json!({
            "name": self.first_output(),
            "datatype": self.label_datatype(),
            "shape": shape,
        })];
        if self.has_proba {
            outputs.push(serde_json::json!({
                "name": PROBABILITIES,
                "datatype": "FP64",
                "shape": [-1, self.classes.len()],
            }));
        }
        serde_json::json!({
            "name": self.name,
            "versions": ["1"],
            "platform": self.platform,
            "inputs": [{ "name": INPUT_NAME, "datatype": "FP64", "shape": [-1, self.n_features] }],
            "outputs": outputs,
        })
    }

    /// The output every model has: `label`, or a regressor's `prediction`.
    fn first_output(&self) -> &'static str {
        if self.regression {
            PREDICTION
        } else {
            LABEL
        }
    }

    fn label_datatype(&self) -> &'static str {
        if self.regression {
            "FP64"
        } else if self.class_names.is_empty() {
            "INT64"
        } else {
            "BYTES"
        }
    }

    fn output_names(&self) -> &'static str {
        if self.regression {
            "\"prediction\" (a regressor: FP64 values, one per row and output)"
        } else if self.has_proba {
            "\"label\" and \"probabilities\""
        } else {
            "\"label\" (this model gives no probabilities)"
        }
    }
}

/// `GET /v2`.
pub fn server_metadata() -> Value {
    serde_json::json!({
        "name": "cpuwall",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    })
}

/// Which outputs to send, and whether each goes as binary data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub label: Option<Form>,
    pub probabilities: Option<Form>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    Binary,
}

/// A valid infer request: `n` rows, row-major, for the batcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Infer {
    /// The request's `id`, echoed in the response.
    pub id: Option<String>,
    pub values: Vec<f64>,
    pub n: usize,
    pub wanted: Wanted,
}

/// A request the client can fix: 400 with this message.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest(pub String);

/// The name of every model's one input, as its metadata says.
pub const INPUT_NAME: &str = "input";

fn bad<T>(m: impl Into<String>) -> Result<T, BadRequest> {
    Err(BadRequest(m.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    inputs: Vec<RawInput>,
    #[serde(default)]
    outputs: Option<Vec<RawOutput>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<Flat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// Parse `POST /v2/models/{name}/infer`'s body for `model`. `json_length`:
/// the `Inference-Header-Content-Length` header, when given (the rest of
/// the body is binary tensor data).
pub fn parse_infer(
    body: &[u8],
    json_length: Option<usize>,
    model: &ModelInfo,
) -> Result<Infer, BadRequest> {
    let (json, mut binary) = match json_length {
        None => (body, &[][..]),
        Some(l) if l <= body.len() => body.split_at(l),
        Some(l) => {
            return bad(format!(
                "Inference-Header-Content-Length is {l} but the body has {} bytes",
                body.len()
            ))
        }
    };
    let raw: RawRequest = serde_json::from_slice(json).map_err(|e| {
        let hint = if e.to_string().contains("recursion limit") {
            " (nested too deeply)"
        } else {
            ""
        };
        BadRequest(format!(
            "not an inference request{hint}: {e}; send {{\"inputs\": [{{\"name\": \"input\", \"shape\": [N, {}], \"datatype\": \"FP64\", \"data\": [...]}}]}} (NaN and Infinity are not JSON numbers)",
            model.n_features
        ))
    })?;
    let id = match raw.id {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return bad("\"id\" must be a string"),
    };
    let [input] = <[RawInput; 1]>::try_from(raw.inputs).map_err(|inputs| {
        BadRequest(format!(
            "{} inputs; this model takes one, shape [N, {}]",
            inputs.len(),
            model.n_features
        ))
    })?;
    if input.name != INPUT_NAME {
        return bad(format!(
            "no input '{}'; this model's one input is \"{INPUT_NAME}\" (see GET /v2/models/{})",
            input.name, model.name
        ));
    }
    let d = model.n_features;
    let dtype = Dtype::parse(&input.datatype)?;
    let (n, f) = match input.shape[..] {
        [n, f] if n >= 1 && f == d as i64 => (n as usize, f as usize),
        _ => {
            return bad(format!(
            "input '{}' has shape {:?}; this model takes [N, {d}] (N rows of {d} features, N >= 1)",
            input.name, input.shape
        ))
        }
    };
    let count = n
        .checked_mul(f)
        .ok_or_else(|| BadRequest("shape too large".into()))?;
    let binary_size = match input
        .parameters
        .as_ref()
        .and_then(|p| p.get("binary_data_size"))
    {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| BadRequest("binary_data_size must be a whole number".into()))?
                as usize,
        ),
    };
    let values = match (input.data, binary_size) {
        (Some(_), Some(_)) => return bad("input has both \"data\" and binary_data_size; send one"),
        (None, None) => return bad(format!("input '{}' has no \"data\"", input.name)),
        (Some(flat), None) => {
            if let Some(p) = flat.problem {
                return bad(format!("input '{}': {p}", input.name));
            }
            if flat.depth > input.shape.len() {
                return bad(format!(
                    "input '{}' nests its data {} lists deep, deeper than its shape {:?}; send it flat or nested as the shape",
                    input.name, flat.depth, input.shape
                ));
            }
            if let (Some(i), Dtype::I(8)) = (flat.above_i64, dtype) {
                return bad(format!(
                    "input '{}' row {}, column {}: beyond INT64's range",
                    input.name,
                    i / f,
                    i % f
                ));
            }
            if flat.values.len() != count {
                return bad(format!(
                    "input '{}' has shape [{n}, {f}] ({count} values) but its data has {}",
                    input.name,
                    flat.values.len()
                ));
            }
            let mut values = flat.values;
            for (i, v) in values.iter_mut().enumerate() {
                *v = match (dtype, flat.bools) {
                    (Dtype::Bool, true) => *v,
                    (_, true) => {
                        return bad(format!(
                            "input '{}' is {} but its data holds booleans",
                            input.name, input.datatype
                        ))
                    }
                    (_, false) => dtype.read_json(*v).map_err(|m| {
                        BadRequest(format!(
                            "input '{}' row {}, column {}: {m}",
                            input.name,
                            i / f,
                            i % f
                        ))
                    })?,
                };
            }
            values
        }
        (None, Some(size)) => {
            let want = count
                .checked_mul(dtype.size())
                .ok_or_else(|| BadRequest("shape too large".into()))?;
            if size != want {
                return bad(format!(
                    "input '{}' has binary_data_size {size}; shape [{n}, {f}] of {} takes {want} bytes",
                    input.name, input.datatype
                ));
            }
            if binary.len() < size {
                return bad(format!(
                    "the body's binary section has {} bytes; input '{}' needs {size}",
                    binary.len(),
                    input.name
                ));
            }
            let (mine, rest) = binary.split_at(size);
            binary = rest;
            mine.chunks_exact(dtype.size())
                .map(|b| dtype.read_le(b))
                .collect()
        }
    };
    if !binary.is_empty() {
        return bad(format!(
            "{} bytes of binary data follow the tensors' own",
            binary.len()
        ));
    }
    if let Some(i) = values
        .iter()
        .position(|v| !(v.is_finite() || (model.missing && v.is_nan())))
    {
        return bad(format!(
            "input '{}' row {}, column {} is {}; features must be finite numbers",
            input.name,
            i / f,
            i % f,
            values[i]
        ));
    }
    let wanted = wanted(raw.outputs, raw.parameters.as_ref(), model)?;
    Ok(Infer {
        id,
        values,
        n,
        wanted,
    })
}

/// `outputs` (none: every output) with each one's form.
fn wanted(
    outputs: Option<Vec<RawOutput>>,
    parameters: Option<&Map<String, Value>>,
    model: &ModelInfo,
) -> Result<Wanted, BadRequest> {
    let flag = |p: Option<&Map<String, Value>>, key: &str| -> Result<Option<bool>, BadRequest> {
        match p.and_then(|p| p.get(key)) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => bad(format!("{key} must be true or false")),
        }
    };
    let all_binary = flag(parameters, "binary_data_output")?.unwrap_or(false);
    let form = |b: bool| if b { Form::Binary } else { Form::Json };
    let Some(outputs) = outputs else {
        return Ok(Wanted {
            label: Some(form(all_binary)),
            probabilities: model.has_proba.then_some(form(all_binary)),
        });
    };
    let mut w = Wanted {
        label: None,
        probabilities: None,
    };
    for o in outputs {
        let f = form(flag(o.parameters.as_ref(), "binary_data")?.unwrap_or(all_binary));
        let slot = match o.name.as_str() {
            name if name == model.first_output() => &mut w.label,
            PROBABILITIES if model.has_proba => &mut w.probabilities,
            other => {
                return bad(format!(
                    "no output {other:?}; model '{}' has {}",
                    model.name,
                    model.output_names()
                ))
            }
        };
        if slot.replace(f).is_some() {
            return bad(format!("output {:?} is asked for twice", o.name));
        }
    }
    if w.label.is_none() && w.probabilities.is_none() {
        return bad(format!(
            "\"outputs\" is empty; ask for \"{}\" or leave \"outputs\" out",
            model.first_output()
        ));
    }
    Ok(w)
}

/// The response body and, when some output went as binary data, the
/// length of its JSON part (the `Inference-Header-Content-Length` to send).
pub fn encode_infer(
    model: &ModelInfo,
    id: Option<&str>,
    wanted: Wanted,
    labels: &[i64],
    proba: Option<&[f64]>,
) -> (Vec<u8>, Option<usize>) {
    let n = labels.len();
    let mut binary = Vec::new();
    let mut outputs = Vec::new();
    if let (Some(form), true) = (wanted.label, model.regression) {
        // A regressor's words are its values' bits, a row's outputs
        // side by side (row-major, as the shape says).
        let shape = if model.outputs > 1 {
            serde_json::json!([n / model.outputs, model.outputs])
        } else {
            serde_json::json!([n])
        };
        let mut o = serde_json::json!({
            "name": PREDICTION,
            "datatype": "FP64",
            "shape": shape,
        });
        let values = labels.iter().map(|&w| crate::model::word_value(w));
        match form {
            Form::Json => o["data"] = serde_json::json!(values.collect::<Vec<f64>>()),
            Form::Binary => {
                values.for_each(|v| binary.extend_from_slice(&v.to_le_bytes()));
                o["parameters"] = serde_json::json!({ "binary_data_size": n * 8 });
            }
        }
        outputs.push(o);
    } else if let Some(form) = wanted.label {
        let names = label_names(model, labels);
        let mut o = serde_json::json!({
            "name": LABEL,
            "datatype": model.label_datatype(),
            "shape": [n],
        });
        match (form, names) {
            (Form::Json, Some(names)) => o["data"] = serde_json::json!(names),
            (Form::Json, None) => o["data"] = serde_json::json!(labels),
            (Form::Binary, names) => {
                let start = binary.len();
                match names {
                    // BYTES: each element its length (u32 LE), then its bytes.
                    Some(names) => {
                        for s in names {
                            binary.extend_from_slice(&(s.len() as u32).to_le_bytes());
                            binary.extend_from_slice(s.as_bytes());
                        }
                    }
                    None => labels
                        .iter()
                        .for_each(|l| binary.extend_from_slice(&l.to_le_bytes())),
                }
                o["parameters"] = serde_json::json!({ "binary_data_size": binary.len() - start });
            }
        }
        outputs.push(o);
    }
    if let (Some(form), Some(p)) = (wanted.probabilities, proba) {
        let k = model.classes.len();
        let mut o = serde_json::json!({
            "name": PROBABILITIES,
            "datatype": "FP64",
            "shape": [n, k],
        });
        match form {
            Form::Json => o["data"] = serde_json::json!(p),
            Form::Binary => {
                p.iter()
                    .for_each(|v| binary.extend_from_slice(&v.to_le_bytes()));
                o["parameters"] = serde_json::json!({ "binary_data_size": p.len() * 8 });
            }
        }
        outputs.push(o);
    }
    let mut head = serde_json::json!({
        "model_name": model.name,
        "model_version": "1",
        "outputs": outputs,
    });
    if let Some(id) = id {
        head["id"] = serde_json::json!(id);
    }
    let mut body = serde_json::to_vec(&head).expect("json");
    let any_binary = wanted.label == Some(Form::Binary)
        || (wanted.probabilities == Some(Form::Binary) && proba.is_some());
    if !any_binary {
        return (body, None);
    }
    let json_length = body.len();
    body.extend_from_slice(&binary);
    (body, Some(json_length))
}

/// The string labels of `labels` (the model's integer classes), when the
/// model has string classes.
fn label_names<'m>(model: &'m ModelInfo, labels: &[i64]) -> Option<Vec<&'m str>> {
    if model.class_names.is_empty() {
        return None;
    }
    Some(
        labels
            .iter()
            .map(|l| {
                let i = model.classes.iter().position(|c| c == l).unwrap_or(0);
                model.class_names[i].as_str()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(has_proba: bool, names: &[&str]) -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            platform: "cpuwall_lr".into(),
            n_features: 2,
            classes: vec![0, 1, 2],
            class_names: names.iter().map(|s| s.to_string()).collect(),
            has_proba,
            missing: false,
            regression: false,
            outputs: 1,
        }
    }

    #[test]
    fn a_regressor_declares_and_returns_one_fp64_prediction_per_row() {
        let mut m = model(false, &[]);
        m.classes.clear();
        m.regression = true;
        assert_eq!(
            m.metadata()["outputs"],
            serde_json::json!([{ "name": "prediction", "datatype": "FP64", "shape": [-1] }])
        );
        let words: Vec<i64> = [1.5, -0.25, 1e300]
            .iter()
            .map(|v| crate::model::value_word(*v))
            .collect();
        let json = Wanted {
            label: Some(Form::Json),
            probabilities: None,
        };
        let (body, binary) = encode_infer(&m, Some("r"), json, &words, None);
        assert_eq!(binary, None);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["outputs"][0]["name"], "prediction");
        assert_eq!(v["outputs"][0]["datatype"], "FP64");
        assert_eq!(
            v["outputs"][0]["data"],
            serde_json::json!([1.5, -0.25, 1e300])
        );
        let bin = Wanted {
            label: Some(Form::Binary),
            probabilities: None,
        };
        let (body, head) = encode_infer(&m, None, bin, &words, None);
        let head = head.unwrap();
        let tail: Vec<f64> = body[head..]
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(tail, [1.5, -0.25, 1e300]);
        // A classifier's output name is refused, naming the regressor's.
        let req = br#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}], "outputs": [{"name": "label"}]}"#;
        let Err(BadRequest(e)) = parse_infer(req, None, &m) else {
            panic!("label accepted from a regressor")
        };
        assert!(e.contains("\"prediction\" (a regressor"), "{e}");
    }

    fn refused(body: &str) -> String {
        match parse_infer(body.as_bytes(), None, &model(true, &[])) {
            Err(BadRequest(m)) => m,
            Ok(r) => panic!("{body}: accepted as {r:?}"),
        }
    }

    #[test]
    fn data_flat_or_nested_becomes_rows_and_fp32_rounds_as_the_clients_array() {
        let m = model(true, &[]);
        let flat = parse_infer(
            br#"{"id": "a1", "inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP64", "data": [1, 2.5, -3, 4]}]}"#,
            None,
            &m,
        )
        .unwrap();
        assert_eq!(flat.values, vec![1.0, 2.5, -3.0, 4.0]);
        assert_eq!((flat.n, flat.id.as_deref()), (2, Some("a1")));
        // No outputs named: every output, as JSON.
        assert_eq!(
            flat.wanted,
            Wanted {
                label: Some(Form::Json),
                probabilities: Some(Form::Json)
            }
        );
        let nested = parse_infer(
            br#"{"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32", "data": [[0.1, 2], [3, 4]]}],
                 "outputs": [{"name": "label"}]}"#,
            None,
            &m,
        )
        .unwrap();
        assert_eq!(nested.values[0], 0.1f32 as f64);
        assert_ne!(nested.values[0], 0.1);
        assert_eq!(nested.wanted.probabilities, None);
    }

    #[test]
    fn nan_in_a_binary_tensor_is_a_missing_value_only_for_a_model_that_routes_it() {
        let json = br#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "parameters": {"binary_data_size": 16}}]}"#;
        let mut body = json.to_vec();
        body.extend_from_slice(&f64::NAN.to_le_bytes());
        body.extend_from_slice(&3f64.to_le_bytes());
        let mut m = model(true, &[]);
        match parse_infer(&body, Some(json.len()), &m) {
            Err(BadRequest(e)) => assert!(e.contains("row 0, column 0 is NaN"), "{e}"),
            Ok(r) => panic!("accepted {r:?}"),
        }
        m.missing = true;
        let r = parse_infer(&body, Some(json.len()), &m).unwrap();
        assert!(r.values[0].is_nan() && r.values[1] == 3.0);
        // Infinity stays refused.
        let mut inf = json.to_vec();
        inf.extend_from_slice(&f64::INFINITY.to_le_bytes());
        inf.extend_from_slice(&3f64.to_le_bytes());
        assert!(parse_infer(&inf, Some(json.len()), &m).is_err());
    }

    #[test]
    fn binary_tensors_are_read_after_the_json_and_answers_go_binary_when_asked() {
        let m = model(true, &[]);
        let json = br#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}],
                        "outputs": [{"name": "label", "parameters": {"binary_data": true}}, {"name": "probabilities"}]}"#;
        let mut body = json.to_vec();
        body.extend_from_slice(&1.5f32.to_le_bytes());
        body.extend_from_slice(&(-2f32).to_le_bytes());
        let r = parse_infer(&body, Some(json.len()), &m).unwrap();
        assert_eq!(r.values, vec![1.5, -2.0]);
        assert_eq!(r.wanted.label, Some(Form::Binary));
        assert_eq!(r.wanted.probabilities, Some(Form::Json));
        let (out, head) = encode_infer(&m, None, r.wanted, &[2], Some(&[0.25, 0.25, 0.5]));
        let head = head.expect("binary part");
        let meta: Value = serde_json::from_slice(&out[..head]).unwrap();
        assert_eq!(meta["outputs"][0]["parameters"]["binary_data_size"], 8);
        assert_eq!(
            meta["outputs"][1]["data"],
            serde_json::json!([0.25, 0.25, 0.5])
        );
        assert_eq!(meta["outputs"][1]["shape"], serde_json::json!([1, 3]));
        assert_eq!(&out[head..], &2i64.to_le_bytes());
        // A binary section that is short, or longer than the tensors.
        assert!(parse_infer(&body[..body.len() - 1], Some(json.len()), &m)
            .unwrap_err()
            .0
            .contains("binary section has 7 bytes"));
        let mut long = body.clone();
        long.push(0);
        assert!(parse_infer(&long, Some(json.len()), &m).is_err());
        assert!(parse_infer(&body, Some(body.len() + 1), &m).is_err());
    }

    #[test]
    fn string_classes_answer_as_bytes_in_json_and_in_binary() {
        let m = model(false, &["cat", "dog", "eel"]);
        let all = Wanted {
            label: Some(Form::Json),
            probabilities: None,
        };
        let (out, head) = encode_infer(&m, Some("q"), all, &[2, 0], None);
        assert_eq!(head, None);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["outputs"][0]["data"], serde_json::json!(["eel", "cat"]));
        assert_eq!(v["outputs"][0]["datatype"], "BYTES");
        assert_eq!(v["id"], "q");
        let bin = Wanted {
            label: Some(Form::Binary),
            probabilities: None,
        };
        let (out, head) = encode_infer(&m, None, bin, &[1], None);
        assert_eq!(&out[head.unwrap()..], b"\x03\x00\x00\x00dog");
    }

    #[test]
    fn requests_a_client_can_fix_are_refused_with_what_to_send() {
        let one = |shape: &str, dtype: &str, data: &str| {
            refused(&format!(
                r#"{{"inputs": [{{"name": "input", "shape": {shape}, "datatype": "{dtype}", "data": {data}}}]}}"#
            ))
        };
        assert!(one("[2, 2]", "FP64", "[1, 2, 3]")
            .contains("shape [2, 2] (4 values) but its data has 3"));
        assert!(one("[1, 3]", "FP64", "[1, 2, 3]").contains("takes [N, 2]"));
        assert!(one("[2]", "FP64", "[1, 2]").contains("takes [N, 2]"));
        assert!(one("[0, 2]", "FP64", "[]").contains("N >= 1"));
        // A shape whose byte count overflows is refused, not wrapped.
        let huge = r#"{"inputs": [{"name": "input", "shape": [4611686018427387904, 2], "datatype": "FP64", "parameters": {"binary_data_size": 16}}]}"#;
        assert!(
            parse_infer(huge.as_bytes(), Some(huge.len()), &model(true, &[]))
                .unwrap_err()
                .0
                .contains("too large")
        );
        assert!(one("[1, 2]", "BYTES", "[\"a\", \"b\"]").contains("not numeric"));
        assert!(one("[1, 2]", "FP64", "[1, \"2\"]").contains("value 1 is a string"));
        assert!(one("[1, 2]", "FP64", "[1, null]").contains("null"));
        assert!(one("[1, 2]", "INT32", "[1, 2.5]").contains("row 0, column 1"));
        assert!(one("[1, 2]", "UINT8", "[1, 256]").contains("range"));
        assert!(one("[1, 2]", "INT64", "[1, 9223372036854775808]").contains("INT64's range"));
        assert!(one("[1, 2]", "INT64", "[1, 1e19]").contains("range"));
        let max = br#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "INT64", "data": [1, 9223372036854775807]}]}"#;
        assert!(
            parse_infer(max, None, &model(true, &[])).is_ok(),
            "INT64's largest value"
        );
        assert!(one("[1, 2]", "FP64", "[[[1, 2]]]").contains("deeper than its shape [1, 2]"));
        assert!(refused(
            r#"{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}"#
        )
        .contains("no input 'x'; this model's one input is \"input\""));
        assert!(one("[1, 2]", "FP64", "[true, false]").contains("booleans"));
        assert!(one("[1, 2]", "FP64", "[1, 1e999]").contains("not an inference request"));
        assert!(one("[1, 2]", "FP64", "[1, NaN]").contains("NaN and Infinity are not JSON"));
        assert!(refused(r#"{"inputs": []}"#).contains("0 inputs"));
        assert!(refused(r#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}], "outputs": [{"name": "proba"}]}"#)
            .contains("no output \"proba\""));
        assert!(refused(r#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}], "outputs": []}"#)
            .contains("empty"));
        assert!(refused(r#"{"input": []}"#).contains("not an inference request"));
        let deep = format!(
            r#"{{"inputs": [{{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": {}}}]}}"#,
            "[".repeat(100_000)
        );
        assert!(refused(&deep).contains("nested too deeply"));
    }

    #[test]
    fn a_model_without_probabilities_lists_and_accepts_only_labels() {
        let m = model(false, &[]);
        let outs = m.metadata()["outputs"].as_array().unwrap().len();
        assert_eq!(outs, 1);
        let r = parse_infer(
            br#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}"#,
            None,
            &m,
        )
        .unwrap();
        assert_eq!(r.wanted.probabilities, None);
        let e = parse_infer(
            br#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}], "outputs": [{"name": "probabilities"}]}"#,
            None,
            &m,
        )
        .unwrap_err();
        assert!(e.0.contains("gives no probabilities"), "{}", e.0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::fuzz_cases(3000)))]

        /// A valid request with bytes overwritten and cut: refused or read,
        /// never a panic, and what is read has the shape it claims.
        #[test]
        fn mutated_requests_never_panic(
            edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 0..6),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            truncate in proptest::prelude::any::<bool>(),
            binary in proptest::prelude::any::<bool>(),
        ) {
            let m = model(true, &[]);
            let (mut body, head) = if binary {
                let json = br#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP64","parameters":{"binary_data_size":32}}],"outputs":[{"name":"label","parameters":{"binary_data":true}}]}"#;
                let mut b = json.to_vec();
                b.extend((0..32u8).map(|i| i.wrapping_mul(37)));
                (b, Some(json.len()))
            } else {
                (br#"{"id":"7","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1.5,-2],[3e-4,7]]}],"parameters":{"binary_data_output":true}}"#.to_vec(), None)
            };
            crate::mutate(&mut body, &edits, cut, truncate);
            if let Ok(r) = parse_infer(&body, head.map(|h| h.min(body.len())), &m) {
                proptest::prop_assert_eq!(r.values.len(), r.n * 2);
                proptest::prop_assert!(r.values.iter().all(|v| v.is_finite()));
            }
        }
    }
}
