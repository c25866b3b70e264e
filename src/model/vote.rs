//! Voting ensembles of fitted models (`cpuwall train --top-k`, or a
//! scikit-learn `VotingClassifier` through the exchange format), as
//! scikit-learn's `VotingClassifier` predicts:
//!
//! - soft: the members' probabilities summed member by member, in the
//!   members' order, divided by their count (numpy's `average` over the
//!   members' axis), then the first largest column;
//! - hard: each member's label counted, the most votes winning and ties going
//!   to the lowest class (`argmax(bincount(...))`);
//! - mean (regressors, as scikit-learn's `VotingRegressor`): the members'
//!   values summed member by member, in the members' order, divided by
//!   their count.
//!
//! A member is any fitted model of another family, stored with its own
//! payload (its family's tag and bytes), so the file format of every family
//! is the ensemble's too. Members see the same features; their classes are
//! the ensemble's by position (a `VotingClassifier`'s members are fitted on
//! the codes 0..k-1 of its classes).

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::params::{describe, Grid, ParamSet, ParamValue};
use super::{argmax, value_word, Family, Fitted, Model, ModelKind, Predictor, ScoreKind, Task};
use crate::error::{Error, Result};

/// Tag 4 in model files.
pub const KIND: ModelKind = ModelKind::tagged(4);

pub static FAMILY: Family = Family {
    kind: KIND,
    short: "ensemble",
    long: "voting ensemble",
    aliases: &["voting"],
    default_grid: Grid::new,
    check_params: |_| Err(not_searched()),
    fit: |_, _, _| Err(not_searched()),
    decode,
    fold_scaling: None,
    searched: false,
    task: crate::model::Task::Classification,
    scores: ScoreKind::Probability,
};

fn not_searched() -> Error {
    Error::usage(
        "an ensemble is not fit from a grid: it is made of the grid search's best models (cpuwall train --models lr --top-k 5)",
    )
}

/// How members' predictions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vote {
    /// Average the members' probabilities.
    Soft,
    /// Count the members' labels.
    Hard,
    /// Average regressors' values (no classes).
    Mean,
}

impl Vote {
    pub fn name(self) -> &'static str {
        match self {
            Vote::Soft => "soft",
            Vote::Hard => "hard",
            Vote::Mean => "mean",
        }
    }
}

impl std::str::FromStr for Vote {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "soft" => Ok(Vote::Soft),
            "hard" => Ok(Vote::Hard),
            "mean" => Ok(Vote::Mean),
            other => Err(Error::usage(format!(
                "--vote {other}: choose soft (average probabilities) or hard (count labels); regressors are averaged (mean)"
            ))),
        }
    }
}

/// One member: its model, and where it came from (for `inspect`).
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub model: Model,
    pub params: ParamSet,
    /// Its mean CV accuracy in the search that chose it (`None`: imported).
    pub cv_accuracy: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Voting {
    vote: Vote,
    classes: Vec<i64>,
    n_features: usize,
    members: Vec<Member>,
}

/// The file form: each member as its own model payload.
#[derive(Serialize, Deserialize)]
struct VotingFile {
    vote: Vote,
    classes: Vec<i64>,
    n_features: usize,
    members: Vec<MemberFile>,
}

#[derive(Serialize, Deserialize)]
struct MemberFile {
    payload: Vec<u8>,
    /// The member's parameters as JSON (postcard cannot read the untagged
    /// [`ParamValue`]).
    params: String,
    cv_accuracy: Option<f64>,
}

/// Rows combined at once: the members' scores for a block stay in L2.
const BLOCK_ROWS: usize = 2048;

impl Voting {
    /// An ensemble of `members` (at least 2; the same feature count and
    /// class count; soft voting needs probabilities from every member).
    pub fn new(vote: Vote, classes: Vec<i64>, members: Vec<Member>) -> Result<Self> {
        let n_features = members.first().map_or(0, |m| m.model.n_features());
        let v = Voting {
            vote,
            classes,
            n_features,
            members,
        };
        v.check().map_err(Error::Runtime)?;
        Ok(v)
    }

    pub fn vote(&self) -> Vote {
        self.vote
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    fn check(&self) -> std::result::Result<(), String> {
        let k = self.classes.len();
        if self.members.len() < 2 {
            return Err(format!(
                "an ensemble needs at least 2 members, this one has {}",
                self.members.len()
            ));
        }
        let mean = self.vote == Vote::Mean;
        if mean && k != 0 {
            return Err("an averaging ensemble of regressors has no classes".into());
        }
        if !mean && (k < 2 || self.classes.windows(2).any(|w| w[0] >= w[1])) {
            return Err("an ensemble's classes must be at least two, distinct and sorted".into());
        }
        for (i, m) in self.members.iter().enumerate() {
            let model = &m.model;
            if model.kind() == KIND {
                return Err(format!("member {i} is itself an ensemble"));
            }
            if model.n_features() != self.n_features || self.n_features == 0 {
                return Err(format!(
                    "member {i} takes {} features, member 0 {}",
                    model.n_features(),
                    self.n_features
                ));
            }
            if model.n_outputs() != 1 {
                return Err(format!(
                    "member {i} predicts {} values a row; an ensemble averages single-output regressors (as scikit-learn's VotingRegressor)",
                    model.n_outputs()
                ));
            }
            let regressor = model.task() == Task::Regression;
            if mean != regressor {
                return Err(format!(
                    "member {i} is a {} model: {} ensemble is made of {}",
                    model.task(),
                    if mean { "an averaging" } else { "a voting" },
                    if mean { "regressors" } else { "classifiers" }
                ));
            }
            if model.classes().len() != k {
                return Err(format!(
                    "member {i} has {} classes, the ensemble {k}",
                    model.classes().len()
                ));
            }
            if self.vote == Vote::Soft && model.score_kind() != ScoreKind::Probability {
                return Err(format!(
                    "member {i} is a {} model, which has no probabilities: soft voting averages probabilities (scikit-learn's VotingClassifier refuses it too); use hard voting",
                    model.kind()
                ));
            }
        }
        Ok(())
    }

    /// Each row's winning class position, from the members' predictions.
    fn winners(&self, x: ArrayView2<'_, f64>, out: &mut [usize]) {
        let k = self.classes.len();
        match self.vote {
            Vote::Soft => {
                let avg = self.average(x);
                for (o, row) in out.iter_mut().zip(avg.rows()) {
                    *o = argmax(row.as_slice().expect("a fresh array"));
                }
            }
            Vote::Hard | Vote::Mean => {
                let mut counts = vec![0u32; x.nrows() * k];
                self.each_vote(x, |r, c| counts[r * k + c] += 1);
                for (o, row) in out.iter_mut().zip(counts.chunks_exact(k)) {
                    *o = argmax(row);
                }
            }
        }
    }

    /// `f(row, class position)` for every member's label of every row.
    fn each_vote(&self, x: ArrayView2<'_, f64>, mut f: impl FnMut(usize, usize)) {
        let mut labels = vec![0i64; x.nrows()];
        for m in &self.members {
            m.model.predict_into(x, &mut labels);
            let classes = m.model.classes();
            for (r, l) in labels.iter().enumerate() {
                let c = classes
                    .binary_search(l)
                    .expect("a member predicts its classes");
                f(r, c);
            }
        }
    }

    /// Soft voting's mean probabilities (a regressors' ensemble: their
    /// mean values): summed in the members' order, then divided by their
    /// count, as numpy's `average` does.
    fn average(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut sum: Option<Array2<f64>> = None;
        for m in &self.members {
            let (_, p) = m.model.scores(x);
            match &mut sum {
                None => sum = Some(p),
                Some(s) => *s += &p,
            }
        }
        let mut sum = sum.expect("at least two members");
        sum /= self.members.len() as f64;
        sum
    }
}

impl Predictor for Voting {
    fn kind(&self) -> ModelKind {
        KIND
    }
    fn score_kind(&self) -> ScoreKind {
        match self.vote {
            Vote::Soft => ScoreKind::Probability,
            Vote::Hard => ScoreKind::Votes,
            Vote::Mean => ScoreKind::Value,
        }
    }
    fn task(&self) -> Task {
        if self.vote == Vote::Mean {
            Task::Regression
        } else {
            Task::Classification
        }
    }
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn classes(&self) -> &[i64] {
        &self.classes
    }

    fn predict_into(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) {
        assert_eq!(
            x.nrows(),
            out.len(),
            "output length must equal the row count"
        );
        if self.vote == Vote::Mean {
            for (rows, words) in x
                .axis_chunks_iter(Axis(0), BLOCK_ROWS)
                .zip(out.chunks_mut(BLOCK_ROWS))
            {
                for (w, v) in words.iter_mut().zip(self.average(rows).column(0)) {
                    *w = value_word(*v);
                }
            }
            return;
        }
        let mut winners = vec![0usize; BLOCK_ROWS.min(x.nrows())];
        for (rows, labels) in x
            .axis_chunks_iter(Axis(0), BLOCK_ROWS)
            .zip(out.chunks_mut(BLOCK_ROWS))
        {
            let w = &mut winners[..labels.len()];
            self.winners(rows, w);
            for (l, &c) in labels.iter_mut().zip(w.iter()) {
                *l = self.classes[c];
            }
        }
    }

    /// Soft: the mean probabilities. Hard: the share of members voting for
    /// each class (scikit-learn's hard `VotingClassifier` has no
    /// `predict_proba`; these are not probabilities).
    fn scores(&self, x: ArrayView2<'_, f64>) -> (ScoreKind, Array2<f64>) {
        match self.vote {
            Vote::Soft => (ScoreKind::Probability, self.average(x)),
            Vote::Mean => (ScoreKind::Value, self.average(x)),
            Vote::Hard => {
                let mut out = Array2::zeros((x.nrows(), self.classes.len()));
                let share = 1.0 / self.members.len() as f64;
                self.each_vote(x, |r, c| out[[r, c]] += share);
                (ScoreKind::Votes, out)
            }
        }
    }

    fn row_cost_ns(&self) -> f64 {
        self.members.iter().map(|m| m.model.row_cost_ns()).sum()
    }

    fn layout(&self) -> Vec<(&'static str, serde_json::Value)> {
        let members: Vec<serde_json::Value> = self
            .members
            .iter()
            .map(|m| {
                let cv = m
                    .cv_accuracy
                    .map_or(String::new(), |a| format!(", CV accuracy {a:.4}"));
                serde_json::json!(format!(
                    "{} ({}){cv}",
                    m.model.kind().short(),
                    describe(&m.params)
                ))
            })
            .collect();
        vec![
            ("vote", serde_json::json!(self.vote.name())),
            ("members", serde_json::Value::Array(members)),
        ]
    }
}

impl Fitted for Voting {
    fn validate(&self) -> std::result::Result<(), String> {
        self.check()?;
        for (i, m) in self.members.iter().enumerate() {
            m.model.validate().map_err(|e| format!("member {i}: {e}"))?;
        }
        Ok(())
    }
    fn fit_notes(&self) -> String {
        format!(
            "{} vote of {} members",
            self.vote.name(),
            self.members.len()
        )
    }
}

impl Serialize for Voting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        VotingFile {
            vote: self.vote,
            classes: self.classes.clone(),
            n_features: self.n_features,
            members: self
                .members
                .iter()
                .map(|m| MemberFile {
                    payload: m.model.encode(),
                    params: serde_json::to_string(&m.params).expect("parameters serialise"),
                    cv_accuracy: m.cv_accuracy,
                })
                .collect(),
        }
        .serialize(s)
    }
}

fn decode(bytes: &[u8]) -> std::result::Result<Model, String> {
    let file: VotingFile = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    let mut members = Vec::with_capacity(file.members.len());
    for (i, m) in file.members.into_iter().enumerate() {
        // A member's own tag comes first; an ensemble inside an ensemble is
        // refused before it is decoded (no unbounded recursion).
        if m.payload.first() == Some(&KIND.tag()) {
            return Err(format!("member {i} is itself an ensemble"));
        }
        let model = Model::decode(&m.payload).map_err(|e| format!("member {i}: {e}"))?;
        let params =
            serde_json::from_str(&m.params).map_err(|e| format!("member {i}'s parameters: {e}"))?;
        members.push(Member {
            model,
            params,
            cv_accuracy: m.cv_accuracy,
        });
    }
    let v = Voting {
        vote: file.vote,
        classes: file.classes,
        n_features: file.n_features,
        members,
    };
    v.check()?;
    Ok(Model::new(v))
}

/// The parameters an ensemble's model header records.
pub fn header_params(vote: Vote, members: usize) -> ParamSet {
    let mut p = ParamSet::new();
    p.insert("vote".into(), ParamValue::Text(vote.name().into()));
    p.insert("members".into(), ParamValue::Num(members as f64));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{fit, ParamSet};
    use ndarray::Array2;

    fn members(vote: Vote) -> (Voting, Array2<f64>) {
        let mut gen = crate::data::synth::MakeClassification::new(600, 5, 2);
        gen.n_classes = 3;
        gen.n_informative = 3;
        let data = gen.generate().unwrap();
        let kinds = [
            crate::model::nb::KIND,
            crate::model::logistic::KIND,
            crate::model::forest::KIND,
        ];
        let mut p = ParamSet::new();
        p.insert("n_estimators".into(), ParamValue::Num(3.0));
        let defaults = ParamSet::new();
        let members = kinds
            .iter()
            .map(|&k| Member {
                model: fit(
                    k,
                    if k == crate::model::forest::KIND {
                        &p
                    } else {
                        &defaults
                    },
                    &data,
                    1,
                )
                .unwrap(),
                params: ParamSet::new(),
                cv_accuracy: Some(0.5),
            })
            .collect();
        (Voting::new(vote, vec![0, 1, 2], members).unwrap(), data.x)
    }

    #[test]
    fn soft_voting_is_the_first_largest_mean_probability() {
        let (v, x) = members(Vote::Soft);
        let labels = v.predict(x.view());
        let mut sum = v.members[0].model.scores(x.view()).1;
        for m in &v.members[1..] {
            sum = sum + m.model.scores(x.view()).1;
        }
        let mean = sum / 3.0;
        for (r, row) in mean.rows().into_iter().enumerate() {
            assert_eq!(labels[r], argmax(row.as_slice().unwrap()) as i64);
        }
        assert_eq!(v.scores(x.view()).1, mean);
    }

    #[test]
    fn hard_voting_counts_labels_and_ties_go_to_the_lowest_class() {
        let (v, x) = members(Vote::Hard);
        let labels = v.predict(x.view());
        let each: Vec<Vec<i64>> = v
            .members
            .iter()
            .map(|m| m.model.predict(x.view()))
            .collect();
        let mut ties = 0;
        for r in 0..x.nrows() {
            let mut count = [0; 3];
            for e in &each {
                count[e[r] as usize] += 1;
            }
            let most = *count.iter().max().unwrap();
            ties += (most == 1) as usize;
            let want = count.iter().position(|&c| c == most).unwrap();
            assert_eq!(labels[r], want as i64, "row {r}: {count:?}");
        }
        assert!(
            ties > 0,
            "three-way ties must occur for the rule to be tested"
        );
        assert_eq!(v.scores(x.view()).0, ScoreKind::Votes);
        assert_eq!(v.score_kind(), ScoreKind::Votes);
    }

    #[test]
    fn a_file_round_trips_and_a_crafted_one_is_refused() {
        let (v, x) = members(Vote::Soft);
        let model = Model::new(v);
        let back = Model::decode(&model.encode()).unwrap();
        assert_eq!(back, model);
        assert_eq!(back.predict(x.view()), model.predict(x.view()));
        // An ensemble as its own member: refused by its tag, not decoded.
        let mut file: VotingFile = postcard::from_bytes(&model.encode()[1..]).unwrap();
        file.members[1].payload = model.encode();
        let crafted = postcard::to_allocvec(&file).unwrap();
        assert!(decode(&crafted)
            .unwrap_err()
            .contains("member 1 is itself an ensemble"));
        // A member of another width.
        let mut file: VotingFile = postcard::from_bytes(&model.encode()[1..]).unwrap();
        file.n_features = 4;
        let e = decode(&postcard::to_allocvec(&file).unwrap()).unwrap_err();
        assert!(e.contains("takes 5 features"), "{e}");
    }

    #[test]
    fn soft_voting_over_decision_values_is_refused() {
        let data = crate::data::synth::study_data(300, 4, 1).unwrap();
        let member = |k| Member {
            model: fit(k, &ParamSet::new(), &data, 0).unwrap(),
            params: ParamSet::new(),
            cv_accuracy: None,
        };
        let e = Voting::new(
            Vote::Soft,
            vec![0, 1],
            vec![
                member(crate::model::nb::KIND),
                member(crate::model::svc::KIND),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("member 1 is a svc model, which has no probabilities"),
            "{e}"
        );
    }
}
