//! Why a payload is invalid, and the checks that payloads and the decision types inside them
//! share. It sits under both, so that `decision` need not import `payload` (which imports
//! `decision`).

use thiserror::Error;

use crate::cbor::CborError;

/// Longest role name, in bytes.
pub const MAX_ROLE_BYTES: usize = 32;

/// Why a body is not a valid payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// Not canonical CBOR of the kind's shape.
    #[error("payload is not canonical: {0}")]
    Encoding(#[from] CborError),
    /// A field the kind does not define.
    #[error("payload kind {kind} has unknown field {field}")]
    UnknownField {
        /// The kind.
        kind: u64,
        /// The field key.
        field: u64,
    },
    /// A required field is absent.
    #[error("payload kind {kind} lacks field `{field}`")]
    MissingField {
        /// The kind.
        kind: u64,
        /// The field name.
        field: &'static str,
    },
    /// Text that must not be empty is empty.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// A field's value is not allowed.
    #[error("{0}")]
    Invalid(String),
}

/// A role name as every node accepts it.
pub(crate) fn role_name(r: &str) -> Result<String, PayloadError> {
    if r.is_empty()
        || r.len() > MAX_ROLE_BYTES
        || !r
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(PayloadError::Invalid(format!(
            "role `{r}` must be 1–{MAX_ROLE_BYTES} characters of a-z, 0-9, - or _"
        )));
    }
    Ok(r.to_owned())
}
