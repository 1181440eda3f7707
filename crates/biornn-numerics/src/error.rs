use std::fmt;

/// The one error type of the workspace: a message meant for the person at the keyboard, naming what was
/// wrong (a field, a value, a file) and what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub message: String,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// An error about one field of an input: `field = value`, and what would have been accepted.
    pub fn invalid(field: &str, value: impl fmt::Display, allowed: &str) -> Self {
        Error::new(format!("invalid `{field}` = {value}: {allowed}"))
    }

    /// Prefix the message with where it happened (a file, a section).
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error::new(format!("{context}: {}", self.message))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attach a path to an I/O error so the user knows which file failed.
pub fn io_context<T>(r: std::io::Result<T>, path: &std::path::Path) -> Result<T> {
    r.map_err(|e| Error::new(format!("{}: {e}", path.display())))
}

/// A config's root seed: what a TOML integer (signed 64-bit) can hold.
pub fn check_seed(seed: u64) -> Result<()> {
    if seed > i64::MAX as u64 {
        return Err(Error::invalid(
            "seed",
            seed,
            "allowed: 0 to 9223372036854775807 (what a config file can hold)",
        ));
    }
    Ok(())
}

/// `Ok` when `ok`, else the error naming `field`, its `value` and what is `allowed`: the one-line
/// check of a config's field.
pub fn check(ok: bool, field: &str, value: impl std::fmt::Display, allowed: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(field, value, allowed))
    }
}
