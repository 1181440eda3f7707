//! The Urbanczik-Senn rule (the reference's `updateWeights`): every dendritic weight moves at
//! every step, in every phase, by eta (phi(u_i) - phi(v*_i)) psp_j: the postsynaptic soma's rate
//! against its dendrite's prediction of it, times the presynaptic neuron's PSP trace. Nothing
//! global: three local factors. The trace is kept per presynaptic neuron (all neurons share g_L).

use crate::network::{Elise, Mode};

/// The rule's learning rates, per 0.1 ms step (the reference's ETAV and ETAH).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UrbanczikSenn {
    /// weights from visible onto visible neurons
    pub eta_visible: f64,
    /// every other weight (visible onto latent, latent onto latent and onto visible)
    pub eta_other: f64,
}

impl Default for UrbanczikSenn {
    fn default() -> Self {
        UrbanczikSenn {
            eta_visible: 1e-4,
            eta_other: 1e-3,
        }
    }
}

impl UrbanczikSenn {
    /// One update of `net`'s dendritic weights from its state after `step_neurons`. In the
    /// reservoir mode only the weights onto visible neurons learn.
    pub fn apply(&self, net: &mut Elise) {
        let n = net.n();
        let learning_rows = match net.mode {
            Mode::Reservoir => net.n_vis,
            Mode::WithDendrite | Mode::SomaOnly => n,
        };
        let nv = net.n_vis;
        for i in 0..learning_rows {
            let err = net.r[i] - net.r_v[i];
            let eta_from_visible = if i < nv {
                self.eta_visible
            } else {
                self.eta_other
            };
            let row = &mut net.w[i * n..(i + 1) * n];
            let gain = &net.dend_gain[i * n..(i + 1) * n];
            // absent connections have gain 0 and stay at 0
            for (eta, cols) in [(eta_from_visible, 0..nv), (self.eta_other, nv..n)] {
                let step = eta * err;
                for j in cols {
                    row[j] += step * gain[j] * net.psp[j];
                }
            }
        }
    }
}
