//! Where a run's progress lines go: standard error, or a sink a host installs (the Python module
//! sends them to `sys.stdout`, which a notebook shows). The driver writes every line through
//! [`line`], and asks [`interrupted`] before every update (the Python module answers whether
//! Ctrl-C was pressed).

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

/// Says whether the user asked the run to stop.
pub type Interrupt = Arc<dyn Fn() -> bool + Send + Sync>;

static INTERRUPT: RwLock<Option<Interrupt>> = RwLock::new(None);

/// Ask `check` before every update whether to stop, or nobody (`None`).
pub fn set_interrupt(check: Option<Interrupt>) {
    *INTERRUPT.write().unwrap_or_else(|e| e.into_inner()) = check;
}

/// Whether the installed check asks the run to stop (never, without one).
pub fn interrupted() -> bool {
    let check = INTERRUPT.read().unwrap_or_else(|e| e.into_inner()).clone();
    check.is_some_and(|c| c())
}
