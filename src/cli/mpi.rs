//! Printing `predict --backend mpi` and `sweep --backends mpi` under
//! `mpirun`/`srun` (cargo feature `mpi`); the jobs are `measure::mpi`.

use super::predict::PredictArgs;
use super::Format;
use crate::data::count::format_count;
use crate::error::{Error, Result};
use crate::exec::BackendKind;
use crate::measure::sweep::SweepJob;
use crate::report;
use crate::units;

pub fn predict(a: &PredictArgs) -> Result<()> {
    let Some(o) = crate::measure::mpi::predict(&a.job(vec![BackendKind::Mpi]))? else {
        return Ok(()); // not rank 0
    };
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::mpi::json(&o)).expect("json")
        ),
        Format::Table => print!("{}", report::mpi::table(&o)),
    }
    if o.check.is_some_and(|c| !c.0) {
        return Err(Error::Runtime(
            "MPI predictions differ from direct's; this is a bug, please report it".into(),
        ));
    }
    Ok(())
}

pub fn sweep(job: &SweepJob) -> Result<()> {
    let results = crate::measure::mpi::sweep(job, &mut |r| {
        let c = r.cells.last().expect("a cell");
        eprintln!(
            "[{}] {} mpi({}) {}: {}{}",
            r.cells.len(),
            c.model,
            r.settings.workers,
            format_count(c.rows),
            units::seconds(c.wall_seconds.median),
            c.speedup_vs_direct
                .map_or(String::new(), |s| format!(" ({s:.2}x direct)"))
        );
    })?;
    if let Some(res) = results {
        println!(
            "{} cells in {:.1} s -> {}",
            res.cells.len(),
            res.elapsed_seconds,
            job.out.display()
        );
    }
    Ok(())
}
