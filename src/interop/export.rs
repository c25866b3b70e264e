//! cpuwall models as ONNX (`cpuwall export MODEL --onnx OUT.onnx`), for
//! ONNX Runtime: linear models as `LinearClassifier` (float32 coefficients,
//! as skl2onnx writes them), forests as `TreeEnsembleClassifier` with
//! float64 thresholds and leaf weights (`*_as_tensor`, ai.onnx.ml opset 3)
//! over a float64 input, so ONNX Runtime walks the very same splits.

use prost::Message;

use super::onnx::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::model::forest::boosted::{Boosted, Link};
use crate::model::forest::regressor::ForestRegressor;
use crate::model::forest::tree::LEAF;
use crate::model::forest::RandomForest;
use crate::model::linreg::LinearRegressor;
use crate::model::logistic::LogisticRegression;
use crate::model::svc::LinearSvc;
use crate::model::{Model, Predictor};

const ML: &str = "ai.onnx.ml";

fn attr(name: &str, kind: AttributeType) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn ints(name: &str, v: Vec<i64>) -> AttributeProto {
    AttributeProto {
        ints: v,
        ..attr(name, AttributeType::Ints)
    }
}

fn floats(name: &str, v: Vec<f32>) -> AttributeProto {
    AttributeProto {
        floats: v,
        ..attr(name, AttributeType::Floats)
    }
}

fn text(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        s: Some(s.as_bytes().to_vec()),
        ..attr(name, AttributeType::String)
    }
}

fn texts(name: &str, v: impl IntoIterator<Item = &'static str>) -> AttributeProto {
    AttributeProto {
        strings: v.into_iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..attr(name, AttributeType::Strings)
    }
}

fn doubles(name: &str, v: Vec<f64>) -> AttributeProto {
    AttributeProto {
        t: Some(TensorProto {
            dims: vec![v.len() as i64],
            data_type: Some(DataType::Double as i32),
            double_data: v,
            ..Default::default()
        }),
        ..attr(name, AttributeType::Tensor)
    }
}

fn value(name: &str, elem: DataType, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(n) => tensor_shape_proto::dimension::Value::DimValue(*n),
                None => tensor_shape_proto::dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(
    op: &str,
    domain: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        name: Some(op.into()),
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// The model's metadata key under which its feature names travel (a JSON
/// list), for `cpuwall import` to read back: ONNX inputs are one tensor.
pub const FEATURE_NAMES_KEY: &str = "cpuwall.feature_names";

/// The ONNX bytes of a model file's model, its real feature names in the
/// metadata; a usage error naming what has an ONNX form where it has none.
pub fn stored_to_onnx(stored: &crate::model::store::StoredModel) -> crate::error::Result<Vec<u8>> {
    let h = &stored.header;
    let names = (!h.features().generated).then(|| h.feature_names());
    to_onnx(&stored.model, names.as_deref()).ok_or_else(|| {
        crate::error::Error::usage(format!(
            "{} models have no ONNX export (lr, svc, rf, linreg, rfr, averaged tree classifiers and tree regressors without categorical or zero-as-missing splits have; nb and boosted classifiers do not yet); predict with cpuwall itself",
            h.kind
        ))
    })
}

/// The ONNX bytes of `model`: input `X` (`N x features`); for a
/// classifier, outputs `label` (int64) and `probabilities` (float: class
/// probabilities for lr/rf, decision scores for svc), for a regressor one
/// output `prediction` (float, `N x outputs`); its real `feature_names`, if it
/// has them, in the metadata. `None` for a model without an ONNX form.
pub fn to_onnx(model: &Model, feature_names: Option<&[String]>) -> Option<Vec<u8>> {
    let d = model.n_features() as i64;
    let k = model.classes().len() as i64;
    let classes = model.classes().to_vec();
    let targets = model.n_outputs() as i64;
    let outputs = if k == 0 {
        vec![value("prediction", DataType::Float, &[None, Some(targets)])]
    } else {
        vec![
            value("label", DataType::Int64, &[None]),
            value("probabilities", DataType::Float, &[None, Some(k)]),
        ]
    };
    let (input_type, nodes, initializer, ml_opset) =
        if let Some(m) = model.downcast_ref::<LinearRegressor>() {
            // float32 coefficients, as skl2onnx writes a linear regressor: its
            // values agree with cpuwall's to float32 precision.
            let n = node(
                "LinearRegressor",
                ML,
                &["X"],
                &["prediction"],
                vec![
                    floats("coefficients", m.coef.iter().map(|&v| v as f32).collect()),
                    floats(
                        "intercepts",
                        m.intercept.iter().map(|&v| v as f32).collect(),
                    ),
                    AttributeProto {
                        i: Some(targets),
                        ..attr("targets", AttributeType::Int)
                    },
                    text("post_transform", "NONE"),
                ],
            );
            (DataType::Float, vec![n], vec![], 1)
        } else if let Some(b) = model
            .downcast_ref::<ForestRegressor>()
            .map(ForestRegressor::trees)
            .or_else(|| model.downcast_ref::<Boosted>())
            .filter(|_| k == 0)
        {
            // Float64 thresholds and leaf values over a float64 input: ONNX
            // Runtime sums (or averages) the very leaves cpuwall does, and
            // hands the value back as float32.
            let (f, tracks) = b.plain_with_tracks()?;
            let (mut attrs, leaves) = forest_attributes(f, "target");
            attrs.push(ints(
                "nodes_missing_value_tracks_true",
                tracks.iter().map(|&l| l as i64).collect(),
            ));
            attrs.extend(leaves);
            attrs.push(text(
                "aggregate_function",
                if b.link_kind() == Link::Average {
                    "AVERAGE"
                } else {
                    "SUM"
                },
            ));
            attrs.push(AttributeProto {
                i: Some(targets),
                ..attr("n_targets", AttributeType::Int)
            });
            attrs.push(text("post_transform", "NONE"));
            let n = node("TreeEnsembleRegressor", ML, &["X"], &["prediction"], attrs);
            (DataType::Double, vec![n], vec![], 3)
        } else if let Some(m) = model
            .downcast_ref::<LogisticRegression>()
            .map(|m| (&m.linear, true))
            .or_else(|| {
                model
                    .downcast_ref::<LinearSvc>()
                    .map(|m| (&m.linear, false))
            })
        {
            let (linear, logistic) = m;
            let (coef, intercept): (Vec<f32>, Vec<f32>) = if k == 2 {
                // Two rows, -w and w, as skl2onnx writes a binary model.
                let w: Vec<f32> = linear.coef.iter().map(|&v| v as f32).collect();
                let b = linear.intercept[0] as f32;
                (
                    w.iter().map(|v| -v).chain(w.iter().copied()).collect(),
                    vec![-b, b],
                )
            } else {
                (
                    linear.coef.iter().map(|&v| v as f32).collect(),
                    linear.intercept.iter().map(|&v| v as f32).collect(),
                )
            };
            let post = match (logistic, k) {
                (false, _) => "NONE",
                (true, 2) => "LOGISTIC",
                (true, _) => "SOFTMAX",
            };
            let n = node(
                "LinearClassifier",
                ML,
                &["X"],
                &["label", "probabilities"],
                vec![
                    ints("classlabels_ints", classes),
                    floats("coefficients", coef),
                    floats("intercepts", intercept),
                    AttributeProto {
                        i: Some(i64::from(k > 2 && logistic)),
                        ..attr("multi_class", AttributeType::Int)
                    },
                    text("post_transform", post),
                ],
            );
            (DataType::Float, vec![n], vec![], 1)
        } else if let Some((f, tracks)) = model
            .downcast_ref::<RandomForest>()
            .map(|f| (f, None))
            .or_else(|| {
                model
                    .downcast_ref::<crate::model::forest::boosted::Boosted>()
                    .and_then(|b| b.averaged_forest())
                    .map(|(f, t)| (f, Some(t)))
            })
        {
            let (mut tree_node, leaf_node) = forest_attributes(f, "class");
            if let Some(left) = tracks {
                // A NaN takes the true (`x <= t`) branch where its split sends
                // it left; ONNX Runtime's comparisons send it to the false one
                // otherwise.
                tree_node.push(ints(
                    "nodes_missing_value_tracks_true",
                    left.iter().map(|&l| l as i64).collect(),
                ));
            }
            // Multiclass weights are whole: average them (two-class ones are).
            let trees = if k == 2 { 1.0 } else { f.n_trees() as f32 };
            let div = node(
                "Div",
                "",
                &["summed", "n_trees"],
                &["probabilities"],
                vec![],
            );
            let mut attrs = tree_node;
            attrs.push(ints("classlabels_int64s", classes));
            attrs.extend(leaf_node);
            attrs.push(text("post_transform", "NONE"));
            if k == 2 {
                attrs.push(floats("base_values", vec![binary_base(f) as f32]));
            }
            let n = node(
                "TreeEnsembleClassifier",
                ML,
                &["X"],
                &["label", "summed"],
                attrs,
            );
            let count = TensorProto {
                name: Some("n_trees".into()),
                data_type: Some(DataType::Float as i32),
                float_data: vec![trees],
                ..Default::default()
            };
            (DataType::Double, vec![n, div], vec![count], 3)
        } else {
            return None;
        };
    let graph = GraphProto {
        name: Some(format!("cpuwall {}", model.kind())),
        node: nodes,
        initializer,
        input: vec![value("X", input_type, &[None, Some(d)])],
        output: outputs,
        ..Default::default()
    };
    let m = ModelProto {
        ir_version: Some(8),
        opset_import: vec![
            OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(17),
            },
            OperatorSetIdProto {
                domain: Some(ML.into()),
                version: Some(ml_opset),
            },
        ],
        producer_name: Some("cpuwall".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        metadata_props: feature_names
            .map(|names| StringStringEntryProto {
                key: Some(FEATURE_NAMES_KEY.into()),
                value: Some(serde_json::to_string(names).expect("json")),
            })
            .into_iter()
            .collect(),
        ..Default::default()
    };
    Some(m.encode_to_vec())
}

/// Two-class leaf weights are scaled by a power of two (exact), and the
/// base value moves ONNX Runtime's 0.5 cut to half the trees: class 1 wins
/// when its summed probability exceeds the trees' half, as in cpuwall, and
/// an exact tie stays with the first class.
fn binary_scale(f: &RandomForest) -> f64 {
    1.0 / (f.n_trees() as f64).log2().ceil().exp2()
}

fn binary_base(f: &RandomForest) -> f64 {
    0.5 - f.n_trees() as f64 * binary_scale(f) / 2.0
}

/// The `nodes_*` and leaf (`class_*` for a classifier, `target_*` for a
/// regressor, `leaf`) attributes of a forest: node ids are local to each
/// tree (a node's index minus its root's); a split goes to its first child
/// when `x <= threshold`, as cpuwall's walk does.
fn forest_attributes(f: &RandomForest, leaf: &str) -> (Vec<AttributeProto>, Vec<AttributeProto>) {
    let k = f.classes.len();
    // ONNX Runtime labels a two-class forest by one summed weight against
    // 0.5 (the first class id's, taken as the second class's probability,
    // as skl2onnx writes it): weights averaged over trees. With more
    // classes it takes the largest sum: whole weights keep those sums
    // exactly cpuwall's. (Two-class rows on an exact tie, where cpuwall
    // picks the first class, can go either way in ONNX Runtime's sum.)
    let (mut tree_ids, mut node_ids, mut features, mut thresholds) =
        (vec![], vec![], vec![], vec![]);
    let (mut trues, mut falses, mut modes) = (vec![], vec![], vec![]);
    let (mut c_tree, mut c_node, mut c_id, mut c_weight) = (vec![], vec![], vec![], vec![]);
    for (t, &root) in f.roots.iter().enumerate() {
        let end = f.roots.get(t + 1).map_or(f.nodes.len(), |&r| r as usize);
        for i in root as usize..end {
            let nd = &f.nodes[i];
            let local = (i - root as usize) as i64;
            tree_ids.push(t as i64);
            node_ids.push(local);
            if nd.feature == LEAF {
                features.push(0);
                thresholds.push(0.0);
                trues.push(0);
                falses.push(0);
                modes.push("LEAF");
                if k == 2 && leaf == "class" {
                    // Class 1's probability, under class id 0 (as skl2onnx).
                    c_tree.push(t as i64);
                    c_node.push(local);
                    c_id.push(0);
                    c_weight.push(f.values[nd.child as usize + 1] * binary_scale(f));
                } else {
                    for c in 0..k {
                        c_tree.push(t as i64);
                        c_node.push(local);
                        c_id.push(c as i64);
                        c_weight.push(f.values[nd.child as usize + c]);
                    }
                }
            } else {
                let child = nd.child as i64 - root as i64;
                features.push(nd.feature as i64);
                thresholds.push(nd.threshold);
                trues.push(child);
                falses.push(child + 1);
                modes.push("BRANCH_LEQ");
            }
        }
    }
    (
        vec![
            ints("nodes_treeids", tree_ids),
            ints("nodes_nodeids", node_ids),
            ints("nodes_featureids", features),
            doubles("nodes_values_as_tensor", thresholds),
            ints("nodes_truenodeids", trues),
            ints("nodes_falsenodeids", falses),
            texts("nodes_modes", modes),
        ],
        vec![
            ints(&format!("{leaf}_treeids"), c_tree),
            ints(&format!("{leaf}_nodeids"), c_node),
            ints(&format!("{leaf}_ids"), c_id),
            doubles(&format!("{leaf}_weights_as_tensor"), c_weight),
        ],
    )
}
