//! Vision: CordsNet, a continuous-time recurrent network whose areas are convolutional
//! (`wmws2/cordsnet`), and the convolutions it is made of.
//!
//! Layout: images and activity are NCHW, row-major (`[n][c][h][w]`, numpy's C order); a
//! convolution's weights are `[c_out][c_in][k][k]`, PyTorch's layout.

pub mod bptt;
pub mod checkpoint;
pub mod cnn;
pub mod config;
pub mod conv;
pub mod cordsnet;
pub mod data;
pub mod jacobian;
pub mod learner;
pub mod multiarea;
pub mod noise;
pub mod pool;
pub mod staged;
pub mod stimuli;
pub mod weight_norm;

pub use bptt::{LossParts, Protocol};
pub use config::{CordsNetRunConfig, DEFAULT_CORDSNET_TOML};
pub use conv::Conv2d;
pub use cordsnet::{Activation, AreaShape, CordsNet, CordsNetShape, Layout};
pub use learner::CordsNetLearner;
