//! All members as one graph: the CPU members are one [`NativeNet`] (conv1
//! stacked across members, one pass over the input per batch), each batch
//! split over every core by a spinning [`Team`]. Members mapped to a GPU run there, batch by
//! batch, alongside.

use super::native::NativeNet;
use super::team::Team;
use super::{check_run, devices::DeviceSpec, Ensemble, RunCost, Runner, Strategy};
use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::Result;

pub struct Fused {
    members: usize,
    /// The CPU members' indices and their fused net.
    cpu: Option<(Vec<usize>, NativeNet)>,
    others: Vec<(usize, Runner)>,
    team: Team,
}

impl Fused {
    pub fn new(ensemble: &Ensemble) -> Result<Self> {
        let (cpu_idx, other_idx): (Vec<usize>, Vec<usize>) =
            (0..ensemble.len()).partition(|&m| ensemble.devices[m] == DeviceSpec::Cpu);
        let cpu = (!cpu_idx.is_empty()).then(|| {
            let ws: Vec<_> = cpu_idx.iter().map(|&m| &ensemble.members[m]).collect();
            (cpu_idx.clone(), NativeNet::new(&ws))
        });
        let others = other_idx
            .into_iter()
            .map(|m| Ok((m, Runner::new(&ensemble.members[m], ensemble.devices[m])?)))
            .collect::<Result<_>>()?;
        Ok(Fused {
            members: ensemble.len(),
            cpu,
            others,
            team: Team::all_cores(),
        })
    }
}

impl Strategy for Fused {
    fn name(&self) -> &'static str {
        "fused"
    }

    fn run(&mut self, pixels: &[u8], batch_size: usize, out: &mut [f32]) -> Result<RunCost> {
        let members = self.members;
        check_run(pixels, members, batch_size, out)?;
        run_batches(
            &self.cpu,
            &self.others,
            &self.team,
            members,
            pixels,
            batch_size,
            out,
        )
    }
}

fn run_batches(
    cpu: &Option<(Vec<usize>, NativeNet)>,
    others: &[(usize, Runner)],
    team: &Team,
    members: usize,
    pixels: &[u8],
    batch_size: usize,
    out: &mut [f32],
) -> Result<RunCost> {
    {
        let all_cpu = others.is_empty();
        let mut fused_buf = Vec::new();
        let mut one = Vec::new();
        for (x, o) in pixels
            .chunks(batch_size * PIXELS)
            .zip(out.chunks_mut(batch_size * members * CLASSES))
        {
            let b = x.len() / PIXELS;
            if let Some((idx, net)) = cpu {
                if all_cpu {
                    // Members in ensemble order: write straight into the output.
                    net.forward(x, o, Some(team));
                } else {
                    fused_buf.resize(b * idx.len() * CLASSES, 0.0);
                    net.forward(x, &mut fused_buf, Some(team));
                    for (j, &m) in idx.iter().enumerate() {
                        for i in 0..b {
                            o[(i * members + m) * CLASSES..][..CLASSES].copy_from_slice(
                                &fused_buf[(i * idx.len() + j) * CLASSES..][..CLASSES],
                            );
                        }
                    }
                }
            }
            for (m, runner) in others {
                one.resize(b * CLASSES, 0.0);
                runner.forward(x, &mut one, None)?;
                super::scatter_member(&one, *m, members, o);
            }
        }
        Ok(RunCost::default())
    }
}
