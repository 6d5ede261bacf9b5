//! The member's secret key, encrypted at rest.
//!
//! A stolen laptop must not yield the key without the passphrase, so the secret seed is sealed
//! with XChaCha20-Poly1305 under a key stretched from the passphrase with Argon2id. The public key
//! is stored in the clear (and bound into the AEAD's associated data) so that commands which only
//! need to *name* the member work without the passphrase. Opening never writes: a wrong passphrase
//! leaves the file exactly as it was. Secrets live in `Zeroizing` buffers and are wiped on drop.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use dualpower_core::{Identity, PublicKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

/// File name of the keystore inside the data directory.
pub const KEYSTORE_FILE: &str = "keystore.json";
const AAD_TAG: &[u8] = b"dualpower keystore v1";

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl KdfParams {
    /// The default: 64 MiB, 3 passes, 1 lane (about a quarter second on a laptop).
    pub const STRONG: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// The weakest parameters a keystore may be opened with; anything below is refused so that a
    /// tampered file cannot silently weaken the protection.
    pub const MIN: KdfParams = KdfParams {
        m_kib: 8 * 1024,
        t: 1,
        p: 1,
    };
    const MAX_M_KIB: u32 = 4 * 1024 * 1024;
}

/// Why the keystore could not be created or opened.
#[derive(Debug, Error)]
pub enum KeystoreError {
    /// There is no keystore in the data directory.
    #[error(
        "no identity in {0}: run `dualpower init` (or `dualpower serve`) there, or pass the right \
         --home"
    )]
    NotInitialised(PathBuf),
    /// A keystore already exists and would be overwritten.
    #[error("an identity already exists in {0}; refusing to overwrite it")]
    AlreadyInitialised(PathBuf),
    /// The passphrase did not open the keystore of the identity in this data directory. Nothing
    /// was read or changed.
    #[error(
        "wrong passphrase for the identity in {0}: nothing was read or changed. Try again (check \
         DUALPOWER_PASSPHRASE if it is set). If you have forgotten it, the key cannot be \
         recovered: create a new identity with `dualpower init --home NEW_DIR` and ask your \
         groups to invite you again"
    )]
    WrongPassphrase(PathBuf),
    /// A new passphrase is too easy to guess.
    #[error(
        "this passphrase is too weak: {estimate}. {advice}Choose several unrelated words (four or \
         more, not a quotation), or a long random string"
    )]
    WeakPassphrase {
        /// How long an offline attack would take, in words.
        estimate: String,
        /// What the estimator suggests (may be empty; ends with a space when not).
        advice: String,
    },
    /// An empty passphrase was offered for a new keystore.
    #[error("the passphrase must not be empty")]
    EmptyPassphrase,
    /// The file is not a keystore this version understands.
    #[error("keystore {path} is damaged or of an unknown format: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the file failed.
    #[error("keystore file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    public: String,
    kdf: String,
    params: KdfParams,
    salt: String,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

/// The lowest zxcvbn score (0–4) a new passphrase may have: 3 means "safely unguessable"
/// (about 10^10 guesses), what an offline attack on a stolen keystore needs at least, given that
/// Argon2 only slows each guess by a constant.
pub const MIN_SCORE: u8 = 3;

/// Refuses a new passphrase that a dictionary attack would break quickly (zxcvbn score below
/// [`MIN_SCORE`]), with the estimate and the estimator's advice. `hints` are words the attacker
/// knows (the data directory's name, say) and that count as guessable.
pub fn check_strength(passphrase: &str, hints: &[&str]) -> Result<(), KeystoreError> {
    if passphrase.is_empty() {
        return Err(KeystoreError::EmptyPassphrase);
    }
    let e = zxcvbn::zxcvbn(passphrase, hints);
    if u8::from(e.score()) >= MIN_SCORE {
        return Ok(());
    }
    let times = e.crack_times();
    let mut advice = String::new();
    if let Some(f) = e.feedback() {
        if let Some(w) = f.warning() {
            advice.push_str(&format!("{}. ", w.to_string().trim_end_matches('.')));
        }
        for s in f.suggestions() {
            advice.push_str(&format!("{s} "));
        }
    }
    Err(KeystoreError::WeakPassphrase {
        estimate: format!(
            "someone with a copy of the keystore would guess it in {} (strength {} of 4, at \
             least {MIN_SCORE} needed)",
            times.offline_slow_hashing_1e4_per_second(),
            u8::from(e.score())
        ),
        advice,
    })
}

/// Path of the keystore in `home`.
pub fn path(home: &Path) -> PathBuf {
    home.join(KEYSTORE_FILE)
}

/// Creates a keystore for `identity` in `home`, sealed with `passphrase`. Refuses to overwrite.
pub fn create(
    home: &Path,
    identity: &Identity,
    passphrase: &str,
    params: KdfParams,
) -> Result<(), KeystoreError> {
    let file = path(home);
    if file.exists() {
        return Err(KeystoreError::AlreadyInitialised(file));
    }
    if passphrase.is_empty() {
        return Err(KeystoreError::EmptyPassphrase);
    }
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut nonce = [0u8; 24];
    rand::fill(&mut nonce);
    let key = stretch(passphrase, &salt, params).map_err(|reason| KeystoreError::Malformed {
        path: file.clone(),
        reason,
    })?;
    let public = identity.public();
    let cipher =
        XChaCha20Poly1305::new_from_slice(&key[..]).map_err(|_| KeystoreError::Malformed {
            path: file.clone(),
            reason: "key size".into(),
        })?;
    let seed = identity.seed();
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &seed[..],
                aad: &aad(&public),
            },
        )
        .map_err(|_| KeystoreError::Malformed {
            path: file.clone(),
            reason: "encryption failed".into(),
        })?;
    let contents = File {
        version: 1,
        public: public.to_did(),
        kdf: "argon2id-v19".into(),
        params,
        salt: hex::encode(salt),
        cipher: "xchacha20poly1305".into(),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    };
    let json = serde_json::to_vec_pretty(&contents).map_err(|e| KeystoreError::Malformed {
        path: file.clone(),
        reason: e.to_string(),
    })?;
    write_new_atomically(&file, &json).map_err(|source| KeystoreError::Io { path: file, source })
}

/// The public key, without the passphrase.
pub fn public(home: &Path) -> Result<PublicKey, KeystoreError> {
    let (file, contents) = read(home)?;
    PublicKey::from_did(&contents.public).map_err(|e| KeystoreError::Malformed {
        path: file,
        reason: e.to_string(),
    })
}

/// Decrypts the identity. Never writes.
pub fn unlock(home: &Path, passphrase: &str) -> Result<Identity, KeystoreError> {
    let (file, c) = read(home)?;
    let bad = |reason: &str| KeystoreError::Malformed {
        path: file.clone(),
        reason: reason.to_owned(),
    };
    if c.version != 1 || c.kdf != "argon2id-v19" || c.cipher != "xchacha20poly1305" {
        return Err(bad("unknown version, kdf or cipher"));
    }
    let p = c.params;
    if p.m_kib < KdfParams::MIN.m_kib
        || p.t < KdfParams::MIN.t
        || p.p < KdfParams::MIN.p
        || p.m_kib > KdfParams::MAX_M_KIB
        || p.t > 64
        || p.p > 64
    {
        return Err(bad("key-stretching parameters out of the accepted range"));
    }
    let public = PublicKey::from_did(&c.public).map_err(|e| bad(&e.to_string()))?;
    let salt = hex::decode(&c.salt).map_err(|_| bad("salt is not hex"))?;
    let nonce: [u8; 24] = hex::decode(&c.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| bad("nonce is not 24 bytes of hex"))?;
    let ciphertext = hex::decode(&c.ciphertext).map_err(|_| bad("ciphertext is not hex"))?;
    let key = stretch(passphrase, &salt, p).map_err(|e| bad(&e))?;
    let cipher = XChaCha20Poly1305::new_from_slice(&key[..]).map_err(|_| bad("key size"))?;
    let seed = Zeroizing::new(
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad(&public),
                },
            )
            .map_err(|_| KeystoreError::WrongPassphrase(home.to_path_buf()))?,
    );
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        seed.as_slice()
            .try_into()
            .map_err(|_| bad("sealed seed is not 32 bytes"))?,
    );
    let identity = Identity::from_seed(&seed);
    if identity.public() != public {
        return Err(bad("sealed key does not match the public key"));
    }
    Ok(identity)
}

fn aad(public: &PublicKey) -> Vec<u8> {
    [AAD_TAG, &public.0[..]].concat()
}

fn stretch(passphrase: &str, salt: &[u8], p: KdfParams) -> Result<Zeroizing<[u8; 32]>, String> {
    let params = argon2::Params::new(p.m_kib, p.t, p.p, Some(32)).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
        .map_err(|e| e.to_string())?;
    Ok(key)
}

fn read(home: &Path) -> Result<(PathBuf, File), KeystoreError> {
    let file = path(home);
    let bytes = match fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeystoreError::NotInitialised(home.to_path_buf()));
        }
        Err(source) => return Err(KeystoreError::Io { path: file, source }),
    };
    if bytes.len() > 64 * 1024 {
        return Err(KeystoreError::Malformed {
            path: file,
            reason: "file too large".into(),
        });
    }
    let parsed = serde_json::from_slice(&bytes).map_err(|e| KeystoreError::Malformed {
        path: file.clone(),
        reason: e.to_string(),
    })?;
    Ok((file, parsed))
}

/// Writes `bytes` to a temporary file, syncs it, and renames it into place, so a crash never
/// leaves a half-written keystore.
fn write_new_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    crate::home::create_dir(dir)?;
    let tmp = file.with_extension("json.tmp");
    {
        // Owner only: a copy of the keystore allows an offline search for the passphrase.
        let mut f = crate::home::open_private(&tmp, true)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, file)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_unlock_and_wrong_passphrase_leaves_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::generate();
        create(dir.path(), &id, "correct horse", KdfParams::MIN).unwrap();
        let before = fs::read(path(dir.path())).unwrap();
        assert_eq!(public(dir.path()).unwrap(), id.public());
        assert_eq!(
            unlock(dir.path(), "correct horse").unwrap().public(),
            id.public()
        );
        assert!(matches!(
            unlock(dir.path(), "wrong"),
            Err(KeystoreError::WrongPassphrase(_))
        ));
        assert_eq!(fs::read(path(dir.path())).unwrap(), before);
        assert!(matches!(
            create(dir.path(), &Identity::generate(), "x", KdfParams::MIN),
            Err(KeystoreError::AlreadyInitialised(_))
        ));
        assert_eq!(fs::read(path(dir.path())).unwrap(), before);
    }

    #[test]
    fn weak_passphrases_are_refused_and_strong_ones_pass() {
        for weak in ["password", "letmein1", "qwerty123", "aaaaaaaaaaaa"] {
            assert!(
                matches!(
                    check_strength(weak, &[]),
                    Err(KeystoreError::WeakPassphrase { .. })
                ),
                "{weak} passed"
            );
        }
        assert!(matches!(
            check_strength("", &[]),
            Err(KeystoreError::EmptyPassphrase)
        ));
        check_strength("tundra lantern quietly obsidian marmalade", &[]).unwrap();
        let msg = check_strength("password", &[]).unwrap_err().to_string();
        assert!(msg.contains("several unrelated words"), "{msg}");
    }

    #[test]
    fn weakened_or_swapped_keystores_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::generate();
        create(dir.path(), &id, "pw", KdfParams::MIN).unwrap();
        let text = fs::read_to_string(path(dir.path())).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["params"]["m_kib"] = 8.into();
        fs::write(path(dir.path()), v.to_string()).unwrap();
        assert!(matches!(
            unlock(dir.path(), "pw"),
            Err(KeystoreError::Malformed { .. })
        ));
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["public"] = Identity::generate().public().to_did().into();
        fs::write(path(dir.path()), v.to_string()).unwrap();
        // The public key is bound as associated data: swapping it breaks decryption.
        assert!(matches!(
            unlock(dir.path(), "pw"),
            Err(KeystoreError::WrongPassphrase(_))
        ));
    }
}
