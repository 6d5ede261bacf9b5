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
    /// A profile's display name breaks the rule every node applies.
    #[error("{0}")]
    DisplayName(#[from] DisplayNameError),
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

/// Longest display name, in characters (Unicode scalar values).
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Longest display name in bytes of UTF-8 (the decoder's bound before counting characters).
pub(crate) const MAX_DISPLAY_NAME_BYTES: usize = MAX_DISPLAY_NAME_CHARS * 4;

/// Why a display name is refused. Every node applies the same rule when decoding a
/// [`crate::Payload::Profile`], so a name one node shows, every node shows.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DisplayNameError {
    /// Nothing but whitespace.
    #[error("a display name must not be empty")]
    Empty,
    /// Leading or trailing whitespace (two names that differ only there would look alike).
    #[error("a display name must not begin or end with whitespace")]
    Untrimmed,
    /// More than [`MAX_DISPLAY_NAME_CHARS`] characters.
    #[error("a display name has at most {max} characters, this one has {chars}")]
    TooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A control character, or an invisible or direction-changing one (zero-width spaces,
    /// bidirectional overrides) that would let two names look alike or reorder what follows.
    #[error("a display name must not contain control or invisible characters (found U+{0:04X})")]
    Invisible(u32),
    /// An ellipsis: shown labels use `(…KEY)` to tell members apart, and a name must not be able
    /// to imitate that.
    #[error("a display name must not contain an ellipsis (`…` or `...`): labels use it for keys")]
    Ellipsis,
}

/// Characters with no visible glyph of their own, or that change the direction of what follows.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}')
}

/// Checks a display name as every node does: trimmed, 1–[`MAX_DISPLAY_NAME_CHARS`]
/// characters, no control or invisible characters, no ellipsis. The caller trims what a person
/// typed first; a stored name is never trimmed silently (that would give it two encodings).
pub fn display_name(name: &str) -> Result<(), DisplayNameError> {
    if name.trim().is_empty() {
        return Err(DisplayNameError::Empty);
    }
    if name.trim() != name {
        return Err(DisplayNameError::Untrimmed);
    }
    let chars = name.chars().count();
    if chars > MAX_DISPLAY_NAME_CHARS {
        return Err(DisplayNameError::TooLong {
            chars,
            max: MAX_DISPLAY_NAME_CHARS,
        });
    }
    if let Some(c) = name.chars().find(|c| invisible(*c)) {
        return Err(DisplayNameError::Invisible(c as u32));
    }
    if name.contains(['…', '⋯', '᠁']) || name.contains("...") {
        return Err(DisplayNameError::Ellipsis);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_checked() {
        assert_eq!(display_name("Sam"), Ok(()));
        assert_eq!(display_name("Ana María 🌱"), Ok(()));
        assert_eq!(display_name(&"é".repeat(64)), Ok(()));
        assert_eq!(display_name(""), Err(DisplayNameError::Empty));
        assert_eq!(display_name(" \t"), Err(DisplayNameError::Empty));
        assert_eq!(display_name(" Sam"), Err(DisplayNameError::Untrimmed));
        assert_eq!(display_name("Sam\n"), Err(DisplayNameError::Untrimmed));
        assert_eq!(
            display_name(&"é".repeat(65)),
            Err(DisplayNameError::TooLong { chars: 65, max: 64 })
        );
        assert_eq!(
            display_name("Sa\u{7}m"),
            Err(DisplayNameError::Invisible(7))
        );
        assert_eq!(
            display_name("Sam\u{202E}nimda"),
            Err(DisplayNameError::Invisible(0x202E))
        );
        assert_eq!(
            display_name("S\u{200B}am"),
            Err(DisplayNameError::Invisible(0x200B))
        );
        assert_eq!(
            display_name("Sam (…uW3fgMhW)"),
            Err(DisplayNameError::Ellipsis)
        );
        assert_eq!(display_name("Sam (...)"), Err(DisplayNameError::Ellipsis));
    }
}
