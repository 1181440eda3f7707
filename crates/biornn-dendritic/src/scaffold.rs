//! The developmental scaffold (the reference's `confNetworkRandCmplt`): a branching process rooted
//! at the visible neurons. Each neuron, once tagged, becomes a teacher exactly once and sends
//! n_out fixed soma-to-soma connections (excitatory and inhibitory) to latent neurons: n_out = 0
//! with probability p0, else 1, growing by one while U < p^n_out. A latent neuron that already
//! has n_in scaffold inputs accepts a new one with probability q^n_in; once reached it is tagged
//! and grows its own connections later.

use biornn_numerics::RngStream;

/// `(p, q, p0)` and how faithfully to follow the reference's draws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaffoldParams {
    /// outgoing persistence
    pub p: f64,
    /// incoming acceptance
    pub q: f64,
    /// probability of no outgoing connection
    pub p0: f64,
    /// the reference's draws: indices as round(U (len - 1)) (the two ends half as likely) and
    /// duplicate edges allowed; default: uniform indices, no duplicate edge
    pub faithful: bool,
}

impl Default for ScaffoldParams {
    fn default() -> Self {
        ScaffoldParams {
            p: 0.2,
            q: 0.15,
            p0: 0.04,
            faithful: false,
        }
    }
}

/// A draw of an index below `len`, uniform or as the reference rounds it.
fn index(rng: &mut RngStream, len: usize, faithful: bool) -> usize {
    if faithful {
        (rng.uniform() * (len - 1) as f64).round() as usize
    } else {
        rng.below(len)
    }
}

/// Needs 0 <= p < 1 and q > 0 (else the process never ends; the config checks them).
/// The scaffold's presynaptic partners of every neuron (visible neurons get none), in the order
/// the edges were made. Neurons `0 .. n_vis` are visible, `n_vis .. n_vis + n_lat` latent.
pub fn generate(
    n_vis: usize,
    n_lat: usize,
    s: ScaffoldParams,
    rng: &mut RngStream,
) -> Vec<Vec<usize>> {
    let n = n_vis + n_lat;
    let mut partners: Vec<Vec<usize>> = vec![vec![]; n];
    if n_lat == 0 {
        return partners;
    }
    let mut tagged = vec![false; n];
    let mut teachers: Vec<usize> = (0..n_vis).collect();
    tagged[..n_vis].fill(true);
    while !teachers.is_empty() {
        let teacher = teachers.remove(index(rng, teachers.len(), s.faithful));
        let mut n_out = 0;
        if rng.uniform() >= s.p0 {
            n_out = 1;
            while rng.uniform() < s.p.powi(n_out) {
                n_out += 1;
            }
        }
        // a latent neuron that can take no new edge from this teacher (without duplicates) is
        // skipped; if none can, the teacher stops early
        let open = |partners: &[Vec<usize>]| {
            (n_vis..n).any(|l| l != teacher && !partners[l].contains(&teacher))
        };
        for _ in 0..n_out {
            if (!s.faithful && !open(&partners)) || (n_lat == 1 && teacher >= n_vis) {
                break;
            }
            loop {
                let student = n_vis + index(rng, n_lat, s.faithful);
                if student == teacher {
                    continue;
                }
                if !s.faithful && partners[student].contains(&teacher) {
                    continue;
                }
                if rng.uniform() < s.q.powi(partners[student].len() as i32) {
                    partners[student].push(teacher);
                    if !tagged[student] {
                        tagged[student] = true;
                        teachers.push(student);
                    }
                    break;
                }
            }
        }
    }
    partners
}
