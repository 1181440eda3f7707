//! The bottom layer of biornn: the scalar trait every kernel is generic over, dense matrix products
//! through faer, named reproducible random streams, and `.npz` files that numpy opens.
//!
//! Nothing here knows about tasks or networks.

pub mod error;
pub mod fp;
pub mod krylov;
pub mod lanes;
pub mod linalg;
pub mod npz;
pub mod optim;
pub mod packed;
pub mod pth;
pub mod real;
pub mod rng;
pub mod tensors;

pub use error::{Error, Result};
pub use real::Real;
pub use rng::{BulkRng, RngStream, Streams};
