//! I2P destinations: the public address peers dial, and the private key that keeps it ours.
//!
//! This module exists because the two are easy to confuse and the mistake is severe: SAM's
//! `SESSION STATUS DESTINATION=` (yosemite's `Session::destination()`) and `DEST GENERATE`'s
//! `PRIV=` are the *private* blob (public destination, then the encryption and signing private
//! keys). Publishing that would hand our identity to anyone. Everything that turns a private
//! blob into the public destination, encodes a destination for SAM or for a multiaddr, or reads
//! and writes the key file goes through here.
//!
//! Encodings: SAM speaks I2P's base64 (alphabet `A-Z a-z 0-9 - ~`, padded). A libp2p multiaddr
//! carries the raw destination bytes in `/garlic64/…` and prints them as unpadded standard
//! base64 with `+` → `-` and `/` → `~`, which is the same text without the padding.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use emissary_core::crypto::{base32_encode, base64_decode, base64_encode};
use emissary_core::primitives::Destination;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use thiserror::Error;

/// The file, inside the directory given to the transport, that holds the private key.
pub const KEY_FILE: &str = "destination.key";

/// Largest key file we read. A private blob with key certificate is about 680 bytes, so
/// 906 base64 characters; anything much larger is not a key.
const MAX_KEY_FILE_LEN: u64 = 4096;

/// Why bytes or text are not a usable destination.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DestinationError {
    /// The text is not I2P base64.
    #[error("not I2P base64 ({len} characters)")]
    NotBase64 {
        /// Length of the text.
        len: usize,
    },
    /// The bytes do not parse as a destination.
    #[error("not an I2P destination: {reason}")]
    Malformed {
        /// The parser's complaint.
        reason: String,
    },
    /// A public destination was followed by more bytes (a private blob, or garbage).
    #[error("{extra} bytes after the public destination")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A private blob had no private keys after the public destination.
    #[error("no private keys after the destination")]
    NoPrivateKeys,
}

/// A public I2P destination: what peers dial and what `/garlic64/…` carries.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicDestination {
    bytes: Vec<u8>,
}

impl PublicDestination {
    /// Parses the exact serialized destination (no trailing bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DestinationError> {
        let dest = Destination::parse(bytes).map_err(|e| DestinationError::Malformed {
            reason: format!("{e:?}"),
        })?;
        let len = dest.serialized().len();
        if len != bytes.len() {
            return Err(DestinationError::TrailingBytes {
                extra: bytes.len().saturating_sub(len),
            });
        }
        Ok(Self {
            bytes: dest.serialized().to_vec(),
        })
    }

    /// Parses I2P base64 as SAM writes it (for example the first line of a forwarded stream).
    pub fn from_base64(text: &str) -> Result<Self, DestinationError> {
        let bytes =
            base64_decode(text.trim()).ok_or(DestinationError::NotBase64 { len: text.len() })?;
        Self::from_bytes(&bytes)
    }

    /// The serialized destination.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// I2P base64, the form SAM's `STREAM CONNECT DESTINATION=` takes.
    pub fn to_base64(&self) -> String {
        base64_encode(&self.bytes)
    }

    /// The short `….b32.i2p` name (SHA-256 of the destination), for people and logs.
    pub fn b32(&self) -> String {
        match Destination::parse(&self.bytes) {
            Ok(d) => format!("{}.b32.i2p", base32_encode(d.id().to_vec())),
            Err(_) => String::new(),
        }
    }

    /// `/garlic64/<destination>`.
    pub fn to_multiaddr(&self) -> Multiaddr {
        Multiaddr::empty().with(Protocol::Garlic64(Cow::Owned(self.bytes.clone())))
    }
}

impl fmt::Debug for PublicDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicDestination({})", self.b32())
    }
}

impl fmt::Display for PublicDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.b32())
    }
}

/// Why a multiaddr cannot be dialed or listened on by the I2P transport.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AddrError {
    /// Not `/garlic64/<dest>` (optionally followed by `/p2p/<peer>`).
    #[error("not an I2P address")]
    NotGarlic64,
    /// `/garlic64/` with bytes that are not a destination.
    #[error(transparent)]
    BadDestination(#[from] DestinationError),
}

/// The destination in `/garlic64/<dest>` or `/garlic64/<dest>/p2p/<peer>`; anything else
/// (TCP, QUIC, DNS, relay circuits, `/garlic32`, extra components) is refused.
pub fn garlic64_destination(addr: &Multiaddr) -> Result<PublicDestination, AddrError> {
    let mut parts = addr.iter();
    let Some(Protocol::Garlic64(bytes)) = parts.next() else {
        return Err(AddrError::NotGarlic64);
    };
    match (parts.next(), parts.next()) {
        (None, _) | (Some(Protocol::P2p(_)), None) => {}
        _ => return Err(AddrError::NotGarlic64),
    }
    Ok(PublicDestination::from_bytes(&bytes)?)
}

/// A destination's private blob, as SAM's `SESSION CREATE DESTINATION=` takes it. Never logged
/// or printed; its public half is [`PrivateDestination::public`].
#[derive(Clone)]
pub struct PrivateDestination {
    base64: String,
    public: PublicDestination,
}

impl PrivateDestination {
    /// Parses the private blob (I2P base64) and derives its public destination.
    pub fn from_base64(text: &str) -> Result<Self, DestinationError> {
        let text = text.trim();
        let bytes = base64_decode(text).ok_or(DestinationError::NotBase64 { len: text.len() })?;
        let dest = Destination::parse(&bytes).map_err(|e| DestinationError::Malformed {
            reason: format!("{e:?}"),
        })?;
        let public = dest.serialized().to_vec();
        if bytes.len() <= public.len() {
            return Err(DestinationError::NoPrivateKeys);
        }
        Ok(Self {
            base64: text.to_owned(),
            public: PublicDestination { bytes: public },
        })
    }

    /// The public destination derived from the blob.
    pub fn public(&self) -> &PublicDestination {
        &self.public
    }

    /// The blob in I2P base64, for SAM only.
    pub(crate) fn sam_key(&self) -> &str {
        &self.base64
    }
}

impl fmt::Debug for PrivateDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateDestination({}, key redacted)", self.public.b32())
    }
}

/// Why the key file could not be read or written.
#[derive(Debug, Error)]
pub enum KeyFileError {
    /// Reading, writing or setting permissions failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The file exists but does not hold a destination private key.
    #[error("key file {path} does not hold an I2P destination key: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: DestinationError,
    },
    /// The file is larger than any key.
    #[error("key file {path} is {len} bytes, too large for a key")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the key file; `Ok(None)` if there is none yet. A file readable by others is narrowed
/// to owner-only (and a warning logged) rather than refused, so an upgrade keeps its address.
pub async fn read_key_file(path: &Path) -> Result<Option<PrivateDestination>, KeyFileError> {
    let meta = match tokio::fs::metadata(path).await {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::TooLarge {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "I2P key file was readable by others; now 0600");
            tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .await
                .map_err(io_err(path))?;
        }
    }
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(io_err(path))?;
    PrivateDestination::from_base64(&text)
        .map(Some)
        .map_err(|source| KeyFileError::Corrupt {
            path: path.to_owned(),
            source,
        })
}

/// Writes the key file with mode 0600 (owner only): first to a temporary file in the same
/// directory, then renamed, so a crash never leaves half a key. The directory is created
/// owner-only if missing.
pub async fn write_key_file(path: &Path, key: &PrivateDestination) -> Result<(), KeyFileError> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir).await.map_err(io_err(dir))?;
    }
    let tmp = path.with_extension("key.tmp");
    let text = format!("{}\n", key.sam_key());
    let tmp2 = tmp.clone();
    tokio::task::spawn_blocking(move || write_owner_only(&tmp2, text.as_bytes()))
        .await
        .map_err(|e| io_err(&tmp)(io::Error::other(e)))?
        .map_err(io_err(&tmp))?;
    tokio::fs::rename(&tmp, path).await.map_err(io_err(path))
}

fn write_owner_only(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    #[cfg(unix)]
    {
        // `mode` applies only when the file is created; a leftover temporary keeps its old mode.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

/// Creates `dir` (and its parents) if missing; a directory we create is owner-only (0700),
/// because it holds keys.
pub(crate) async fn create_private_dir(dir: &Path) -> io::Result<()> {
    if tokio::fs::metadata(dir).await.is_ok() {
        return Ok(());
    }
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&dir)
    })
    .await
    .map_err(io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A public destination built by hand: 384 bytes of padding and keys, then a key
    /// certificate (type 5, length 4) for Ed25519 signing (7) and X25519 encryption (4).
    fn sample_public() -> Vec<u8> {
        let mut bytes = vec![0u8; 384];
        // An Ed25519 public key must decode as a curve point: use the base point's encoding.
        let base_point: [u8; 32] = [
            0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x66, 0x66, 0x66, 0x66,
        ];
        bytes[352..384].copy_from_slice(&base_point);
        bytes.extend_from_slice(&[5, 0, 4, 0, 7, 0, 4]);
        bytes
    }

    #[test]
    fn public_round_trips_through_base64_and_multiaddr() {
        let bytes = sample_public();
        let dest = PublicDestination::from_bytes(&bytes).expect("parses");
        assert_eq!(dest.as_bytes(), &bytes[..]);
        let again = PublicDestination::from_base64(&dest.to_base64()).expect("base64");
        assert_eq!(again, dest);
        let addr = dest.to_multiaddr();
        let text = addr.to_string();
        assert!(text.starts_with("/garlic64/"), "{text}");
        // The multiaddr text is the I2P base64 without padding.
        assert_eq!(
            text.trim_start_matches("/garlic64/"),
            dest.to_base64().trim_end_matches('=')
        );
        let parsed: Multiaddr = text.parse().expect("multiaddr parses its own text");
        assert_eq!(garlic64_destination(&parsed), Ok(dest.clone()));
        assert!(dest.b32().ends_with(".b32.i2p"));
    }

    #[test]
    fn private_blob_yields_its_public_half() {
        let mut blob = sample_public();
        blob.extend_from_slice(&[9u8; 32 + 32]);
        let key = PrivateDestination::from_base64(&base64_encode(&blob)).expect("private");
        assert_eq!(key.public().as_bytes(), &sample_public()[..]);
        // The private blob is not a public destination: the extra bytes are refused.
        assert_eq!(
            PublicDestination::from_bytes(&blob),
            Err(DestinationError::TrailingBytes { extra: 64 })
        );
        // And a public destination alone is not a key.
        assert_eq!(
            PrivateDestination::from_base64(&base64_encode(sample_public())).map(|_| ()),
            Err(DestinationError::NoPrivateKeys)
        );
        assert!(!format!("{key:?}").contains(&key.sam_key()[..40]));
    }

    #[test]
    fn only_garlic64_addresses_are_accepted() {
        let dest = PublicDestination::from_bytes(&sample_public()).expect("parses");
        let peer = libp2p::PeerId::random();
        let with_peer = dest.to_multiaddr().with(Protocol::P2p(peer));
        assert_eq!(garlic64_destination(&with_peer), Ok(dest.clone()));
        for text in [
            "/ip4/127.0.0.1/tcp/4001",
            "/ip4/10.0.0.1/udp/4001/quic-v1",
            "/dns4/example.org/tcp/443",
            "/ip6/::1/tcp/1",
        ] {
            let addr: Multiaddr = text.parse().expect("valid multiaddr");
            assert_eq!(
                garlic64_destination(&addr),
                Err(AddrError::NotGarlic64),
                "{text}"
            );
        }
        let trailing = dest.to_multiaddr().with(Protocol::Tcp(1));
        assert_eq!(garlic64_destination(&trailing), Err(AddrError::NotGarlic64));
        let junk = Multiaddr::empty().with(Protocol::Garlic64(Cow::Owned(vec![1u8; 400])));
        assert!(matches!(
            garlic64_destination(&junk),
            Err(AddrError::BadDestination(_))
        ));
        assert_eq!(
            garlic64_destination(&Multiaddr::empty()),
            Err(AddrError::NotGarlic64)
        );
    }

    #[tokio::test]
    async fn key_file_is_owner_only_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join(KEY_FILE);
        assert!(read_key_file(&path).await.expect("no file").is_none());
        let mut blob = sample_public();
        blob.extend_from_slice(&[7u8; 64]);
        let key = PrivateDestination::from_base64(&base64_encode(&blob)).expect("private");
        write_key_file(&path, &key).await.expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(path.parent().expect("parent"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        let back = read_key_file(&path).await.expect("read").expect("present");
        assert_eq!(back.public(), key.public());
        std::fs::write(&path, "not a key").expect("overwrite");
        assert!(matches!(
            read_key_file(&path).await,
            Err(KeyFileError::Corrupt { .. })
        ));
    }
}
