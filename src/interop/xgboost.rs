//! XGBoost models as `save_model` writes them (JSON, or UBJSON: the same
//! document in binary), read without Python. Objectives `binary:logistic`,
//! `binary:logitraw`, `multi:softprob` and `multi:softmax`; gbtree
//! boosters (`num_parallel_tree` included); `best_iteration` honoured as
//! XGBoost's scikit-learn `predict` does. Features are compared in float32
//! (`f32(x) < split_condition`); NaN follows each split's `default_left`.

use serde_json::Value;

use super::boosted::{self, Ensemble, Missing, Node, Test, Tree};
use crate::model::forest::boosted::{Boosted, Link};

/// Whether a parsed JSON document is an XGBoost model.
pub fn is_xgboost(doc: &Value) -> bool {
    doc.get("learner").is_some() && doc.get("version").is_some()
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value, String> {
    let mut at = v;
    for p in path {
        at = at
            .get(*p)
            .ok_or_else(|| format!("no '{}' in the XGBoost model", path.join(".")))?;
    }
    Ok(at)
}

/// A number XGBoost may write as a JSON number or as a string ("5E-1").
fn number(v: &Value, what: &str) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{what} is not a number ({v})"))
}

/// `base_score`: a number, or a list of them in brackets ("[4.98E-1]").
fn numbers(v: &Value, what: &str) -> Result<Vec<f64>, String> {
    match v {
        Value::String(s) if s.trim().starts_with('[') => s
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{what} '{s}' is not a list of numbers"))
            })
            .collect(),
        Value::Array(a) => a.iter().map(|x| number(x, what)).collect(),
        _ => Ok(vec![number(v, what)?]),
    }
}

fn ints(v: &Value, what: &str) -> Result<Vec<i64>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} is not a list"))?
        .iter()
        .map(|x| {
            x.as_i64()
                .ok_or_else(|| format!("{what} holds {x}, not an integer"))
        })
        .collect()
}

fn floats(v: &Value, what: &str) -> Result<Vec<f64>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} is not a list"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| format!("{what} holds {x}, not a number"))
        })
        .collect()
}

/// The model in an XGBoost JSON document.
pub fn from_doc(doc: &Value) -> Result<(Boosted, Option<Vec<String>>), String> {
    let version = doc
        .get("version")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default();
    let learner = field(doc, &["learner"])?;
    let objective = field(learner, &["objective", "name"])?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let booster = field(learner, &["gradient_booster"])?;
    let name = booster.get("name").and_then(Value::as_str).unwrap_or("");
    if name != "gbtree" {
        return Err(format!(
            "booster '{name}': cpuwall reads gbtree boosters (a dart booster's tree weights or a linear booster are not imported)"
        ));
    }
    let param = field(learner, &["learner_model_param"])?;
    let n_features = number(field(param, &["num_feature"])?, "num_feature")? as usize;
    let num_class = number(field(param, &["num_class"])?, "num_class")? as usize;
    // A regressor's targets: one margin each, each tree adding to the one
    // `tree_info` names (multi_strategy "one_output_per_tree").
    let targets = match param.get("num_target") {
        Some(t) => number(t, "num_target")?,
        None => 1.0,
    };
    if !(1.0..=super::MAX_OUTPUTS as f64).contains(&targets) {
        return Err(format!("num_target {targets}"));
    }
    let targets = targets as usize;
    let base_raw = numbers(field(param, &["base_score"])?, "base_score")?;
    let (k, link, base) = match objective.as_str() {
        o if targets > 1 && !o.starts_with("reg:") => {
            return Err(format!(
                "objective '{o}' with {targets} targets: cpuwall imports multi-target regressors (reg:...)"
            ))
        }
        "binary:logistic" | "binary:logitraw" => {
            let b = *base_raw.first().ok_or("base_score is empty")?;
            let margin = if objective == "binary:logistic" {
                if !(b > 0.0 && b < 1.0) {
                    return Err(format!("base_score {b} is not a probability"));
                }
                // XGBoost's ProbToMargin, in float32 as it keeps it.
                let b = b as f32;
                (-(1.0f32 / b - 1.0f32).ln()) as f64
            } else {
                (b as f32) as f64
            };
            (2, Link::Sigmoid, vec![margin])
        }
        "multi:softprob" | "multi:softmax" => {
            if num_class < 3 {
                return Err(format!("{objective} with num_class {num_class}"));
            }
            let base = match base_raw.len() {
                1 => vec![(base_raw[0] as f32) as f64; num_class],
                n if n == num_class => base_raw.iter().map(|b| (*b as f32) as f64).collect(),
                n => return Err(format!("{n} base scores for {num_class} classes")),
            };
            (num_class, Link::Softmax, base)
        }
        // Regressors whose prediction is the margin itself (no classes).
        "reg:squarederror" | "reg:linear" | "reg:absoluteerror" | "reg:pseudohubererror"
        | "reg:quantileerror" | "reg:squaredlogerror" => {
            // One base score for every target, or XGBoost 3's one each.
            let base = match base_raw.len() {
                1 => vec![(base_raw[0] as f32) as f64; targets],
                n if n == targets => base_raw.iter().map(|b| (*b as f32) as f64).collect(),
                n => return Err(format!("{n} base scores for {targets} target(s)")),
            };
            (0, Link::Identity, base)
        }
        other => {
            return Err(format!(
                "objective '{other}': cpuwall imports XGBoost classifiers with binary:logistic, binary:logitraw, multi:softprob or multi:softmax, and regressors whose prediction is the margin (reg:squarederror, reg:absoluteerror, reg:pseudohubererror, reg:quantileerror); a log or logistic link (count:poisson, reg:gamma, reg:tweedie, reg:logistic) is not imported"
            ))
        }
    };
    let model = field(booster, &["model"])?;
    let trees_json = field(model, &["trees"])?
        .as_array()
        .ok_or("'trees' is not a list")?;
    let tree_info = ints(field(model, &["tree_info"])?, "tree_info")?;
    if tree_info.len() != trees_json.len() {
        return Err(format!(
            "{} trees but tree_info has {} entries",
            trees_json.len(),
            tree_info.len()
        ));
    }
    // best_iteration: XGBoost's scikit-learn predict stops there.
    let mut take = trees_json.len();
    if let Some(best) = learner
        .get("attributes")
        .and_then(|a| a.get("best_iteration"))
    {
        let best = number(best, "best_iteration")? as usize;
        let per_iteration = match model.get("iteration_indptr") {
            Some(p) => {
                let p = ints(p, "iteration_indptr")?;
                p.get(best + 1).map(|&e| e as usize)
            }
            None => None,
        };
        let params = field(model, &["gbtree_model_param"])?;
        let parallel = params
            .get("num_parallel_tree")
            .map(|v| number(v, "num_parallel_tree"))
            .transpose()?
            .unwrap_or(1.0) as usize;
        let margins = match k {
            0 => targets,
            2 => 1,
            k => k,
        };
        let per_round = parallel.max(1) * margins;
        take = per_iteration
            .unwrap_or((best + 1) * per_round)
            .min(trees_json.len());
    }
    let mut trees = Vec::with_capacity(take);
    for (t, tj) in trees_json.iter().take(take).enumerate() {
        let leaf_vector = tj
            .get("tree_param")
            .and_then(|p| p.get("size_leaf_vector"))
            .map(|v| number(v, "size_leaf_vector"))
            .transpose()?
            .unwrap_or(0.0);
        if leaf_vector > 1.0 {
            return Err(
                "trees with vector leaves (multi_strategy \"multi_output_tree\"): cpuwall imports one_output_per_tree models, XGBoost's default"
                    .into(),
            );
        }
        let class = tree_info[t];
        if class < 0 {
            return Err(format!("tree {t} has class {class}"));
        }
        trees.push(Tree {
            class: class as usize,
            nodes: tree_nodes(tj, n_features).map_err(|e| format!("tree {t}: {e}"))?,
        });
    }
    let names = learner
        .get("feature_names")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.iter()
                .map(|n| n.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        });
    if let Some(types) = learner.get("feature_types").and_then(Value::as_array) {
        if let Some(c) = types.iter().position(|t| t.as_str() == Some("c")) {
            return Err(format!(
                "feature {c} is categorical: cpuwall does not import XGBoost categorical splits yet (one-hot encode it, or use LightGBM or HistGradientBoosting, whose categorical splits cpuwall reads)"
            ));
        }
    }
    let rounds = trees.len();
    let model = boosted::build(Ensemble {
        classes: (0..k as i64).collect(),
        n_features,
        trees,
        base,
        link,
        sigmoid: 1.0,
        missing: true,
        source: format!("XGBoost {version} {objective}, {rounds} trees"),
    })?;
    Ok((model, names))
}

fn tree_nodes(tj: &Value, n_features: usize) -> Result<Vec<Node>, String> {
    let left = ints(field(tj, &["left_children"])?, "left_children")?;
    let right = ints(field(tj, &["right_children"])?, "right_children")?;
    let feature = ints(field(tj, &["split_indices"])?, "split_indices")?;
    let cond = floats(field(tj, &["split_conditions"])?, "split_conditions")?;
    let default_left = ints(field(tj, &["default_left"])?, "default_left")?;
    let n = left.len();
    if [right.len(), feature.len(), cond.len(), default_left.len()]
        .iter()
        .any(|&l| l != n)
    {
        return Err("its node arrays differ in length".into());
    }
    if let Some(types) = tj.get("split_type") {
        if ints(types, "split_type")?.iter().any(|&t| t != 0) {
            return Err(
                "a categorical split: cpuwall does not import XGBoost categorical splits yet"
                    .into(),
            );
        }
    }
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        if left[i] == -1 {
            nodes.push(Node::Leaf(cond[i]));
            continue;
        }
        let in_range = |c: i64| c >= 0 && (c as usize) < n;
        if !in_range(left[i]) || !in_range(right[i]) {
            return Err(format!("node {i} points outside the tree"));
        }
        if feature[i] < 0 || feature[i] as usize >= n_features {
            return Err(format!("node {i} splits on feature {}", feature[i]));
        }
        nodes.push(Node::Split {
            feature: feature[i] as usize,
            test: Test::LessF32(cond[i] as f32),
            missing: if default_left[i] != 0 {
                Missing::Left
            } else {
                Missing::Right
            },
            left: left[i] as usize,
            right: right[i] as usize,
        });
    }
    Ok(nodes)
}

/// UBJSON (XGBoost's `.ubj`) as a JSON document: objects, arrays (typed
/// and counted ones included), strings, integers, floats, booleans, null.
pub fn ubjson(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Ubj {
        b: bytes,
        at: 0,
        depth: 0,
    };
    let v = r.value()?;
    Ok(v)
}

struct Ubj<'a> {
    b: &'a [u8],
    at: usize,
    depth: usize,
}

impl Ubj<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let c = *self
            .b
            .get(self.at)
            .ok_or_else(|| format!("UBJSON ends early at byte {}", self.at))?;
        self.at += 1;
        Ok(c)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if n > self.b.len() - self.at {
            return Err(format!("UBJSON ends early at byte {}", self.at));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn int_of(&mut self, marker: u8) -> Result<i64, String> {
        Ok(match marker {
            b'i' => self.byte()? as i8 as i64,
            b'U' => self.byte()? as i64,
            b'I' => i16::from_be_bytes(self.take(2)?.try_into().unwrap()) as i64,
            b'l' => i32::from_be_bytes(self.take(4)?.try_into().unwrap()) as i64,
            b'L' => i64::from_be_bytes(self.take(8)?.try_into().unwrap()),
            m => return Err(format!("UBJSON: marker '{}' is not an integer", m as char)),
        })
    }

    fn length(&mut self) -> Result<usize, String> {
        let m = self.byte()?;
        let n = self.int_of(m)?;
        if n < 0 || n as usize > self.b.len() {
            return Err(format!("UBJSON: length {n} at byte {}", self.at));
        }
        Ok(n as usize)
    }

    fn of(&mut self, marker: u8) -> Result<Value, String> {
        Ok(match marker {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::from(self.int_of(marker)?),
            b'd' => {
                let f = f32::from_be_bytes(self.take(4)?.try_into().unwrap());
                serde_json::Number::from_f64(f as f64).map_or(Value::Null, Value::Number)
            }
            b'D' => {
                let f = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
            b'S' | b'H' => {
                let n = self.length()?;
                Value::String(String::from_utf8_lossy(self.take(n)?).into_owned())
            }
            b'C' => Value::String((self.byte()? as char).to_string()),
            b'[' => self.container(false)?,
            b'{' => self.container(true)?,
            m => {
                return Err(format!(
                    "UBJSON: unknown marker 0x{m:02x} at byte {}",
                    self.at - 1
                ))
            }
        })
    }

    fn value(&mut self) -> Result<Value, String> {
        let m = self.byte()?;
        self.of(m)
    }

    fn container(&mut self, object: bool) -> Result<Value, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("UBJSON nested deeper than 64".into());
        }
        let mut typed = None;
        let mut count = None;
        if self.b.get(self.at) == Some(&b'$') {
            self.at += 1;
            typed = Some(self.byte()?);
        }
        if self.b.get(self.at) == Some(&b'#') {
            self.at += 1;
            count = Some(self.length()?);
        }
        let mut items = Vec::new();
        let mut map = serde_json::Map::new();
        let mut i = 0;
        loop {
            match count {
                Some(n) if i == n => break,
                None if self.b.get(self.at) == Some(if object { &b'}' } else { &b']' }) => {
                    self.at += 1;
                    break;
                }
                _ => {}
            }
            if object {
                let n = self.length()?;
                let key = String::from_utf8_lossy(self.take(n)?).into_owned();
                let v = match typed {
                    Some(t) => self.of(t)?,
                    None => self.value()?,
                };
                map.insert(key, v);
            } else {
                items.push(match typed {
                    Some(t) => self.of(t)?,
                    None => self.value()?,
                });
            }
            i += 1;
        }
        self.depth -= 1;
        Ok(if object {
            Value::Object(map)
        } else {
            Value::Array(items)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ubjson_reads_typed_arrays_objects_and_numbers() {
        // {"a": [1.5f32, 2.5f32] (typed, counted), "s": "hi", "n": -3}
        let mut b = vec![b'{'];
        b.extend([b'U', 1, b'a', b'[', b'$', b'd', b'#', b'U', 2]);
        b.extend(1.5f32.to_be_bytes());
        b.extend(2.5f32.to_be_bytes());
        b.extend([b'U', 1, b's', b'S', b'U', 2, b'h', b'i']);
        b.extend([b'U', 1, b'n', b'i', (-3i8) as u8]);
        b.push(b'}');
        let v = ubjson(&b).unwrap();
        assert_eq!(v, serde_json::json!({"a": [1.5, 2.5], "s": "hi", "n": -3}));
        assert!(ubjson(&b[..b.len() - 3])
            .unwrap_err()
            .contains("ends early"));
    }
}
