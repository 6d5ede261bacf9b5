//! Writing to stdout and stderr the way Unix tools do.
//!
//! `println!` panics when the reader has gone (`dualpower feed tenants | head -1`), because Rust
//! ignores SIGPIPE. A listing whose reader left has nothing more to do: it stops quietly with
//! status 0 instead. `serve` must not stop because its output is no longer read, so it uses
//! [`line_or_drop`].

use std::fmt::Display;
use std::io::{ErrorKind, Write};

/// Writes one line to stdout; if the reader has gone, exits quietly.
pub(crate) fn line(s: impl Display) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{s}").and_then(|()| out.flush()) {
        gone(e);
    }
}

/// Writes one line to stderr; if nobody reads it, exits quietly.
pub(crate) fn err_line(s: impl Display) {
    let mut err = std::io::stderr().lock();
    if let Err(e) = writeln!(err, "{s}") {
        gone(e);
    }
}

/// Writes one line to stdout and carries on whatever happens (for a long-running node).
pub(crate) fn line_or_drop(s: impl Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}").and_then(|()| out.flush());
}

fn gone(e: std::io::Error) -> ! {
    // Any other failure to write (a full disk under a redirection) is an error worth its status.
    std::process::exit(if e.kind() == ErrorKind::BrokenPipe {
        0
    } else {
        1
    })
}
