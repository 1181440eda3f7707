use biornn_numerics::Real;
use serde::{Deserialize, Serialize};

/// The unit nonlinearity f.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Softplus,
    Tanh,
    /// max(0, tanh x), rectified tanh
    Retanh,
    Sigmoid,
    Identity,
}

impl Activation {
    pub const ALL: [Activation; 6] = [
        Activation::Relu,
        Activation::Softplus,
        Activation::Tanh,
        Activation::Retanh,
        Activation::Sigmoid,
        Activation::Identity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Softplus => "softplus",
            Activation::Tanh => "tanh",
            Activation::Retanh => "retanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }

    #[inline(always)]
    pub fn f<T: Real>(self, x: T) -> T {
        match self {
            Activation::Relu => x.max(T::ZERO),
            // max(x, 0) + log(1 + e^{-|x|}): no overflow for large |x|; both functions
            // branch-free in f32 so that the loops over units vectorise
            Activation::Softplus => x.max(T::ZERO) + (-x.abs()).exp_fast().ln_1p_unit_fast(),
            Activation::Tanh => x.tanh(),
            Activation::Retanh => x.tanh().max(T::ZERO),
            Activation::Sigmoid => sigmoid(x),
            Activation::Identity => x,
        }
    }

    /// f'(x), from the pre-activation x.
    #[inline(always)]
    pub fn df<T: Real>(self, x: T) -> T {
        match self {
            Activation::Relu => {
                if x > T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            Activation::Softplus => sigmoid(x),
            Activation::Tanh => {
                let t = x.tanh();
                T::ONE - t * t
            }
            Activation::Retanh => {
                if x > T::ZERO {
                    let t = x.tanh();
                    T::ONE - t * t
                } else {
                    T::ZERO
                }
            }
            Activation::Sigmoid => {
                let s = sigmoid(x);
                s * (T::ONE - s)
            }
            Activation::Identity => T::ONE,
        }
    }
}

/// 1 / (1 + e^{-x}), from e^{-|x|} so that it never overflows; branch-free apart from a select.
#[inline(always)]
pub fn sigmoid<T: Real>(x: T) -> T {
    let e = (-x.abs()).exp_fast();
    let s = T::ONE / (T::ONE + e);
    if x >= T::ZERO {
        s
    } else {
        e * s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        for act in Activation::ALL {
            for &x in &[-3.0f64, -0.7, -0.1, 0.2, 0.9, 4.0] {
                let h = 1e-6;
                let fd = (act.f(x + h) - act.f(x - h)) / (2.0 * h);
                assert!((fd - act.df(x)).abs() < 1e-6, "{act:?} at {x}");
            }
        }
    }

    #[test]
    fn softplus_is_stable() {
        assert_eq!(Activation::Softplus.f(1000.0f32), 1000.0);
        assert!(Activation::Softplus.f(-1000.0f32) >= 0.0);
        assert!((Activation::Softplus.f(0.0f64) - 2f64.ln()).abs() < 1e-15);
        assert!(sigmoid(-1000.0f32) < 1e-37);
        assert_eq!(sigmoid(1000.0f32), 1.0);
        assert!((sigmoid(0.3f32) as f64 - 1.0 / (1.0 + (-0.3f64).exp())).abs() < 1e-7);
    }
}
