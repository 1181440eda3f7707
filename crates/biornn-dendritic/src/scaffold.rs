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
            (n_vis..n).any(|l| may_take_edge(partners, teacher, l, s.faithful))
        };
        for _ in 0..n_out {
            if (!s.faithful && !open(&partners)) || (n_lat == 1 && teacher >= n_vis) {
                break;
            }
            let student = draw_student(&partners, teacher, n_vis, n_lat, s, rng);
            partners[student].push(teacher);
            if !tagged[student] {
                tagged[student] = true;
                teachers.push(student);
            }
        }
    }
    partners
}

/// Whether latent neuron `l` may take an edge from `teacher`: never from itself, and in the
/// default mode not a second one (the reference's faithful mode allows duplicates).
fn may_take_edge(partners: &[Vec<usize>], teacher: usize, l: usize, faithful: bool) -> bool {
    l != teacher && (faithful || !partners[l].contains(&teacher))
}

/// Rejected draws of one student after which [`draw_student`] stops drawing and samples the same
/// distribution directly: a steep scaffold (p near 1, q small, few latent neurons) can need
/// 1/q^n_in draws, 10^12 and more, for one edge. No run at the reference's values gets near it.
const MAX_REJECTED_DRAWS: usize = 10_000;

/// The student of one scaffold edge from `teacher`, as the reference draws it: a latent neuron at
/// random (not the teacher; in the default mode not one that has this teacher already), accepted
/// with probability q^n_in. After [`MAX_REJECTED_DRAWS`] rejections, one draw with weights
/// q^n_in over the same candidates: the distribution the rejection loop samples, without the loop.
fn draw_student(
    partners: &[Vec<usize>],
    teacher: usize,
    n_vis: usize,
    n_lat: usize,
    s: ScaffoldParams,
    rng: &mut RngStream,
) -> usize {
    let candidate = |l: usize| may_take_edge(partners, teacher, l, s.faithful);
    for _ in 0..MAX_REJECTED_DRAWS {
        let student = n_vis + index(rng, n_lat, s.faithful);
        if !candidate(student) {
            continue;
        }
        if rng.uniform() < s.q.powi(partners[student].len() as i32) {
            return student;
        }
    }
    // weights relative to the fewest inputs among the candidates, so that q^n cannot underflow
    // to zero everywhere; the faithful mode's rounded indices make the two ends half as likely
    let candidates: Vec<usize> = (n_vis..n_vis + n_lat).filter(|l| candidate(*l)).collect();
    let fewest = candidates
        .iter()
        .map(|l| partners[*l].len())
        .min()
        .unwrap_or(0);
    let weight = |l: usize| {
        let ends = s.faithful && n_lat > 1 && (l == n_vis || l == n_vis + n_lat - 1);
        s.q.powi((partners[l].len() - fewest) as i32) * if ends { 0.5 } else { 1.0 }
    };
    let total: f64 = candidates.iter().map(|l| weight(*l)).sum();
    let mut u = rng.uniform() * total;
    for l in &candidates {
        u -= weight(*l);
        if u < 0.0 {
            return *l;
        }
    }
    *candidates
        .last()
        .expect("the caller checked that a student is open")
}

#[cfg(test)]
mod tests {
    use super::*;
    use biornn_numerics::Streams;

    #[test]
    fn steep_scaffolds_end_and_keep_their_rules() {
        // one latent neuron for 13 teachers at q = 0.05 needed 0.05^-12 draws for the last edge;
        // p = 0.99 makes edges by the hundred
        for (n_lat, p, q) in [(1, 0.2, 0.05), (50, 0.99, 0.15), (50, 0.2, 1e-6)] {
            for faithful in [false, true] {
                let s = ScaffoldParams {
                    p,
                    q,
                    p0: 0.04,
                    faithful,
                };
                let mut rng = Streams::new(1).stream("elise_scaffold", 0);
                let partners = generate(13, n_lat, s, &mut rng);
                for (i, from) in partners.iter().enumerate() {
                    assert!(i >= 13 || from.is_empty());
                    assert!(!from.contains(&i), "self-connection onto {i}");
                    if !faithful {
                        let mut d = from.clone();
                        d.sort();
                        d.dedup();
                        assert_eq!(d.len(), from.len(), "duplicate edge onto {i}");
                    }
                }
                if n_lat == 1 && !faithful {
                    // every visible teacher can reach the one latent neuron once at most
                    assert!(partners[13].len() <= 13);
                }
            }
        }
    }

    #[test]
    fn the_direct_draw_weights_students_by_q_to_their_inputs() {
        // acceptance 0.5^40: every draw falls back to the weighted draw, 2 : 1 for the neuron
        // with one input fewer
        let n_vis = 1;
        let mut partners = vec![vec![]; 3];
        partners[1] = vec![9; 40];
        partners[2] = vec![9; 41];
        let s = ScaffoldParams {
            q: 0.5,
            ..ScaffoldParams::default()
        };
        let mut rng = Streams::new(2).stream("test", 0);
        let draws = 600;
        let first = (0..draws)
            .filter(|_| draw_student(&partners, 0, n_vis, 2, s, &mut rng) == 1)
            .count();
        let share = first as f64 / draws as f64;
        assert!((share - 2.0 / 3.0).abs() < 0.06, "{share}");
    }
}
