//! Hyperparameter tuning: parameter grids, stratified k-fold, grid search,
//! and the training job (`job.rs`) `cpuwall train` runs.

pub mod grid;
pub mod job;
pub mod kfold;
pub mod options;
pub mod search;
pub mod top_k;
pub mod train;
