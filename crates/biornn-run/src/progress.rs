//! Where a run's progress lines go: standard error, or a sink a host installs (the Python module
//! sends them to `sys.stdout`, which a notebook shows). The driver writes every line through
//! [`line`].

use std::sync::{Arc, RwLock};

/// Receives each progress line (without its newline).
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Send progress lines to `sink` from now on, or back to standard error (`None`).
pub fn set_sink(sink: Option<Sink>) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
}

/// One progress line, to the sink if one is installed, else to standard error.
pub fn line(text: &str) {
    let sink = SINK.read().unwrap_or_else(|e| e.into_inner()).clone();
    match sink {
        Some(s) => s(text),
        None => eprintln!("{text}"),
    }
}
