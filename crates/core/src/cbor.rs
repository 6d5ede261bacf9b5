//! Strict, canonical CBOR (RFC 8949 §4.2.1 "core deterministic encoding") for the subset Dual Power
//! uses: unsigned integers, byte strings, text strings, arrays, maps with unsigned-integer keys,
//! booleans and null.
//!
//! Why our own codec instead of a general CBOR library: every node must accept exactly the same
//! bytes, and we sign and hash the exact bytes we receive. General decoders are liberal (they accept
//! non-minimal integers, indefinite lengths, duplicate keys) and allocate before they check sizes.
//! This reader rejects every non-canonical form and checks each length against the bytes that are
//! actually left *before* it allocates, so a hostile length prefix cannot make us reserve memory.

use thiserror::Error;

/// Why a byte string is not strict canonical CBOR of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CborError {
    /// The input ended in the middle of an item.
    #[error("input ends early: needed {needed} more byte(s) at offset {offset}")]
    Truncated {
        /// Byte offset at which more input was needed.
        offset: usize,
        /// How many more bytes were needed.
        needed: usize,
    },
    /// An integer or length was not encoded in its shortest form.
    #[error("non-minimal integer encoding at offset {offset}")]
    NonMinimalInteger {
        /// Byte offset of the item.
        offset: usize,
    },
    /// Indefinite-length strings, arrays and maps are not canonical.
    #[error("indefinite-length item at offset {offset}")]
    IndefiniteLength {
        /// Byte offset of the item.
        offset: usize,
    },
    /// A reserved or unsupported additional-information value (28..=30), or an unsupported
    /// major type / simple value (tags, floats, undefined).
    #[error("unsupported CBOR item (initial byte {initial:#04x}) at offset {offset}")]
    Unsupported {
        /// Byte offset of the item.
        offset: usize,
        /// The item's initial byte.
        initial: u8,
    },
    /// The item has a different type than the schema requires.
    #[error("expected {expected} at offset {offset}")]
    UnexpectedType {
        /// Byte offset of the item.
        offset: usize,
        /// What the schema expected.
        expected: &'static str,
    },
    /// Map keys must be strictly ascending; a repeated key is a duplicate.
    #[error("map key {key} at offset {offset} is duplicate or out of canonical order")]
    KeyOrder {
        /// Byte offset of the key.
        offset: usize,
        /// The offending key.
        key: u64,
    },
    /// A length exceeds a hard bound of the schema.
    #[error("{what} has length {len}, more than the limit {max}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// The declared length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Nesting deeper than the schema allows.
    #[error("nesting deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Text is not valid UTF-8.
    #[error("text at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Byte offset of the item.
        offset: usize,
    },
    /// Bytes remain after the top-level item.
    #[error("{count} trailing byte(s) after the item")]
    TrailingBytes {
        /// How many bytes remain.
        count: usize,
    },
    /// A fixed-size field has the wrong size.
    #[error("{what} must be {expected} bytes, found {found}")]
    WrongSize {
        /// Which field.
        what: &'static str,
        /// Required size.
        expected: usize,
        /// Size found.
        found: usize,
    },
    /// An integer is out of the range the schema allows.
    #[error("{what} = {value} is out of range")]
    OutOfRange {
        /// Which field.
        what: &'static str,
        /// The value found.
        value: u64,
    },
}

const MAJOR_UINT: u8 = 0;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_SIMPLE: u8 = 7;
const SIMPLE_FALSE: u8 = 0xf4;
const SIMPLE_TRUE: u8 = 0xf5;
const SIMPLE_NULL: u8 = 0xf6;

/// Appends canonical CBOR to a buffer. Every method writes the shortest form, so the output of
/// any sequence of calls is canonical as long as map keys are written in ascending order (the
/// callers in this crate do so by construction).
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// A writer with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        Self {
            buf: Vec::with_capacity(cap),
        }
    }

    fn head(&mut self, major: u8, value: u64) {
        let m = major << 5;
        if value < 24 {
            self.buf.push(m | value as u8);
        } else if value <= u8::MAX as u64 {
            self.buf.push(m | 24);
            self.buf.push(value as u8);
        } else if value <= u16::MAX as u64 {
            self.buf.push(m | 25);
            self.buf.extend_from_slice(&(value as u16).to_be_bytes());
        } else if value <= u32::MAX as u64 {
            self.buf.push(m | 26);
            self.buf.extend_from_slice(&(value as u32).to_be_bytes());
        } else {
            self.buf.push(m | 27);
            self.buf.extend_from_slice(&value.to_be_bytes());
        }
    }

    /// An unsigned integer.
    pub fn uint(&mut self, v: u64) -> &mut Self {
        self.head(MAJOR_UINT, v);
        self
    }
    /// A byte string.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(MAJOR_BYTES, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }
    /// A UTF-8 text string.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.head(MAJOR_TEXT, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }
    /// The head of an array of `len` items; the items follow.
    pub fn array(&mut self, len: usize) -> &mut Self {
        self.head(MAJOR_ARRAY, len as u64);
        self
    }
    /// The head of a map of `len` pairs; write keys in ascending order.
    pub fn map(&mut self, len: usize) -> &mut Self {
        self.head(MAJOR_MAP, len as u64);
        self
    }
    /// A boolean.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.buf.push(if v { SIMPLE_TRUE } else { SIMPLE_FALSE });
        self
    }
    /// Null.
    pub fn null(&mut self) -> &mut Self {
        self.buf.push(SIMPLE_NULL);
        self
    }
    /// Either a 32-byte string or null.
    pub fn opt_bytes32(&mut self, v: Option<&[u8; 32]>) -> &mut Self {
        match v {
            Some(b) => self.bytes(b),
            None => self.null(),
        }
    }
    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads strict canonical CBOR from a byte slice without copying.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `input` that allows at most `max_depth` nested containers.
    pub fn new(input: &'a [u8], max_depth: usize) -> Self {
        Self {
            input,
            pos: 0,
            depth: 0,
            max_depth,
        }
    }

    /// Current byte offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// Fails unless the whole input has been consumed.
    pub fn finish(&self) -> Result<(), CborError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(CborError::TrailingBytes { count }),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        if self.remaining() < n {
            return Err(CborError::Truncated {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn peek(&self) -> Result<u8, CborError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(CborError::Truncated {
                offset: self.pos,
                needed: 1,
            })
    }

    /// Reads an item head: (major type, argument). Rejects non-minimal and indefinite forms.
    fn head(&mut self) -> Result<(u8, u64, usize), CborError> {
        let offset = self.pos;
        let initial = self.take(1)?[0];
        let major = initial >> 5;
        let info = initial & 0x1f;
        if major == MAJOR_SIMPLE {
            return Ok((major, info as u64, offset));
        }
        if major == 1 || major == 6 {
            // Negative integers and tags are not part of any Dual Power schema.
            return Err(CborError::Unsupported { offset, initial });
        }
        let value = match info {
            0..=23 => info as u64,
            24 => {
                let v = self.take(1)?[0] as u64;
                if v < 24 {
                    return Err(CborError::NonMinimalInteger { offset });
                }
                v
            }
            25 => {
                let b = self.take(2)?;
                let v = u16::from_be_bytes([b[0], b[1]]) as u64;
                if v <= u8::MAX as u64 {
                    return Err(CborError::NonMinimalInteger { offset });
                }
                v
            }
            26 => {
                let b = self.take(4)?;
                let v = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64;
                if v <= u16::MAX as u64 {
                    return Err(CborError::NonMinimalInteger { offset });
                }
                v
            }
            27 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let v = u64::from_be_bytes(a);
                if v <= u32::MAX as u64 {
                    return Err(CborError::NonMinimalInteger { offset });
                }
                v
            }
            31 => return Err(CborError::IndefiniteLength { offset }),
            _ => return Err(CborError::Unsupported { offset, initial }),
        };
        Ok((major, value, offset))
    }

    fn expect(&mut self, major: u8, expected: &'static str) -> Result<u64, CborError> {
        let save = self.pos;
        let (m, v, offset) = self.head()?;
        if m != major {
            self.pos = save;
            return Err(CborError::UnexpectedType { offset, expected });
        }
        Ok(v)
    }

    /// An unsigned integer.
    pub fn uint(&mut self) -> Result<u64, CborError> {
        self.expect(MAJOR_UINT, "unsigned integer")
    }

    /// A byte string of at most `max` bytes, borrowed from the input.
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], CborError> {
        let len = self.expect(MAJOR_BYTES, "byte string")?;
        self.checked_len(what, len, max)?;
        self.take(len as usize)
    }

    /// A byte string of exactly `N` bytes.
    pub fn bytes_n<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], CborError> {
        let len = self.expect(MAJOR_BYTES, "byte string")?;
        if len != N as u64 {
            return Err(CborError::WrongSize {
                what,
                expected: N,
                found: usize::try_from(len).unwrap_or(usize::MAX),
            });
        }
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A 32-byte string or null.
    pub fn opt_bytes32(&mut self, what: &'static str) -> Result<Option<[u8; 32]>, CborError> {
        if self.peek()? == SIMPLE_NULL {
            self.pos += 1;
            return Ok(None);
        }
        self.bytes_n::<32>(what).map(Some)
    }

    /// A UTF-8 text string of at most `max` bytes, borrowed from the input.
    pub fn text(&mut self, what: &'static str, max: usize) -> Result<&'a str, CborError> {
        let offset = self.pos;
        let len = self.expect(MAJOR_TEXT, "text string")?;
        self.checked_len(what, len, max)?;
        let raw = self.take(len as usize)?;
        std::str::from_utf8(raw).map_err(|_| CborError::InvalidUtf8 { offset })
    }

    /// A boolean.
    pub fn bool(&mut self) -> Result<bool, CborError> {
        let offset = self.pos;
        match self.peek()? {
            SIMPLE_TRUE => {
                self.pos += 1;
                Ok(true)
            }
            SIMPLE_FALSE => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(CborError::UnexpectedType {
                offset,
                expected: "boolean",
            }),
        }
    }

    /// True (and consumes it) if the next item is null.
    pub fn null(&mut self) -> Result<bool, CborError> {
        if self.peek()? == SIMPLE_NULL {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// The head of an array: returns its length, at most `max`. Enters one nesting level; call
    /// [`Reader::leave`] after the items.
    pub fn array(&mut self, what: &'static str, max: usize) -> Result<usize, CborError> {
        let len = self.expect(MAJOR_ARRAY, "array")?;
        // Every item takes at least one byte, so a count above the bytes left is a lie.
        self.checked_len(what, len, max)?;
        self.enter()?;
        Ok(len as usize)
    }

    /// The head of a map: returns its number of pairs, at most `max`. Enters one nesting level.
    pub fn map(&mut self, what: &'static str, max: usize) -> Result<usize, CborError> {
        let len = self.expect(MAJOR_MAP, "map")?;
        self.checked_len(what, len, max)?;
        self.enter()?;
        Ok(len as usize)
    }

    /// A map key, which must be an unsigned integer greater than `prev` (canonical order, no
    /// duplicates).
    pub fn key(&mut self, prev: Option<u64>) -> Result<u64, CborError> {
        let offset = self.pos;
        let k = self.uint()?;
        if prev.is_some_and(|p| k <= p) {
            return Err(CborError::KeyOrder { offset, key: k });
        }
        Ok(k)
    }

    /// Leaves a nesting level entered by [`Reader::array`] or [`Reader::map`].
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Skips one item of any supported type, checking that it is canonical (used for payload
    /// kinds this node does not know).
    pub fn skip(&mut self) -> Result<(), CborError> {
        let (major, value, offset) = self.head()?;
        match major {
            MAJOR_UINT => Ok(()),
            MAJOR_BYTES | MAJOR_TEXT => {
                self.checked_len("item", value, usize::MAX)?;
                let raw = self.take(value as usize)?;
                if major == MAJOR_TEXT && std::str::from_utf8(raw).is_err() {
                    return Err(CborError::InvalidUtf8 { offset });
                }
                Ok(())
            }
            MAJOR_ARRAY => {
                self.checked_len("array", value, usize::MAX)?;
                self.enter()?;
                for _ in 0..value {
                    self.skip()?;
                }
                self.leave();
                Ok(())
            }
            MAJOR_MAP => {
                self.checked_len("map", value, usize::MAX)?;
                self.enter()?;
                let mut prev = None;
                for _ in 0..value {
                    prev = Some(self.key(prev)?);
                    self.skip()?;
                }
                self.leave();
                Ok(())
            }
            _ => match value as u8 | 0xe0 {
                SIMPLE_FALSE | SIMPLE_TRUE | SIMPLE_NULL => Ok(()),
                initial => Err(CborError::Unsupported { offset, initial }),
            },
        }
    }

    fn enter(&mut self) -> Result<(), CborError> {
        if self.depth >= self.max_depth {
            return Err(CborError::TooDeep {
                max: self.max_depth,
            });
        }
        self.depth += 1;
        Ok(())
    }

    fn checked_len(&self, what: &'static str, len: u64, max: usize) -> Result<(), CborError> {
        if len > max as u64 {
            return Err(CborError::TooLong {
                what,
                len,
                max: max as u64,
            });
        }
        if len > self.remaining() as u64 {
            return Err(CborError::Truncated {
                offset: self.pos,
                needed: (len - self.remaining() as u64) as usize,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_integers_round_trip_at_every_boundary() {
        for v in [
            0u64,
            23,
            24,
            255,
            256,
            65535,
            65536,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut w = Writer::default();
            w.uint(v);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes, 4);
            assert_eq!(r.uint(), Ok(v));
            assert_eq!(r.finish(), Ok(()));
        }
    }

    #[test]
    fn rejects_non_minimal_forms() {
        for bytes in [
            &[0x18, 0x05][..],
            &[0x19, 0x00, 0xff],
            &[0x1a, 0x00, 0x00, 0xff, 0xff],
            &[0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(matches!(
                Reader::new(bytes, 4).uint(),
                Err(CborError::NonMinimalInteger { offset: 0 })
            ));
        }
    }

    #[test]
    fn rejects_indefinite_lengths_duplicates_and_trailing_bytes() {
        assert!(matches!(
            Reader::new(&[0x5f, 0xff], 4).bytes("b", 10),
            Err(CborError::IndefiniteLength { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x9f, 0xff], 4).array("a", 10),
            Err(CborError::IndefiniteLength { .. })
        ));
        let mut r = Reader::new(&[0xa2, 0x01, 0x00, 0x01, 0x00], 4);
        r.map("m", 4).unwrap();
        let k = r.key(None).unwrap();
        r.uint().unwrap();
        assert!(matches!(
            r.key(Some(k)),
            Err(CborError::KeyOrder { key: 1, .. })
        ));
        let mut r = Reader::new(&[0x01, 0x02], 4);
        r.uint().unwrap();
        assert_eq!(r.finish(), Err(CborError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn hostile_lengths_fail_before_allocation() {
        // A byte string claiming 2^63 bytes with nothing behind it.
        let bytes = [0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            Reader::new(&bytes, 4).bytes("body", usize::MAX),
            Err(CborError::Truncated { .. })
        ));
        assert!(matches!(
            Reader::new(&bytes, 4).bytes("body", 100),
            Err(CborError::TooLong { max: 100, .. })
        ));
        let nested = [0x81u8; 64];
        let mut r = Reader::new(&nested, 8);
        let mut depth_err = None;
        for _ in 0..64 {
            if let Err(e) = r.array("a", 1) {
                depth_err = Some(e);
                break;
            }
        }
        assert_eq!(depth_err, Some(CborError::TooDeep { max: 8 }));
    }
}
