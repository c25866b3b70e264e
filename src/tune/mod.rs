//! Hyperparameter tuning: parameter grids, stratified k-fold, grid search.

pub mod grid;
pub mod kfold;
pub mod options;
pub mod search;
pub mod train;
