//! The neuron constants (the reference's `mainCuda.h`): mV, ms, capacitance 1.

/// Constants of the two-compartment neurons.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeuronParams {
    /// leak reversal, mV
    pub e_l: f64,
    /// excitatory reversal, mV
    pub e_e: f64,
    /// inhibitory reversal, mV
    pub e_i: f64,
    /// leak conductance (tau of the dendrite = 1 / g_l = 10 ms)
    pub g_l: f64,
    /// dendro-somatic coupling
    pub g_d: f64,
    /// the scaffold's excitatory and inhibitory conductance per unit rate
    pub g_e0: f64,
    pub g_i0: f64,
    /// the rate phi(u) = 1 / (1 + exp(slope (mid - u)))
    pub slope: f64,
    pub mid: f64,
    /// the Euler step, ms
    pub dt: f64,
}

impl Default for NeuronParams {
    fn default() -> Self {
        NeuronParams {
            e_l: -70.0,
            e_e: 0.0,
            e_i: -75.0,
            g_l: 0.1,
            g_d: 2.0,
            g_e0: 0.3,
            g_i0: 6.0,
            slope: 0.3,
            mid: -58.0,
            dt: 0.1,
        }
    }
}

impl NeuronParams {
    /// The rate of a potential.
    pub fn phi(&self, u: f64) -> f64 {
        1.0 / (1.0 + (self.slope * (self.mid - u)).exp())
    }

    /// The rate at rest, phi(E_L): the floor of the scaffold's conductances.
    pub fn phi_rest(&self) -> f64 {
        self.phi(self.e_l)
    }

    /// The dendrite's prediction of the somatic potential, v* = (g_l E_L + g_d v) / (g_l + g_d).
    pub fn v_star(&self, v: f64) -> f64 {
        (self.g_l * self.e_l + self.g_d * v) / (self.g_l + self.g_d)
    }
}
