//! The data directory's permissions: the directory is the owner's alone (0700) and every file
//! in it is readable and writable by the owner only (0600).
//!
//! Why: the directory holds the encrypted keystore (a copy allows an offline passphrase search),
//! the store (who belongs to which group, key shares, local secrets), the store lock (whoever can
//! open it can hold it and block every command) and the local API token. Modes are set at
//! creation, whatever the umask, and directories made by older versions (0755 / 0644) are
//! tightened when a store is opened; [`tighten`] says what it changed so the caller can tell
//! the person.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the data directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in the data directory.
pub const FILE_MODE: u32 = 0o600;

/// Files of the data directory whose modes are checked (SQLite's write-ahead log and shared
/// memory index included, and the temporary files written before a rename).
pub const FILES: &[&str] = &[
    "keystore.json",
    "keystore.json.tmp",
    crate::DB_FILE,
    "store.sqlite-wal",
    "store.sqlite-shm",
    "store.sqlite-journal",
    crate::LOCK_FILE,
    "api.json",
    "api.json.tmp",
];

/// A permission that was looser than it should be, and has been changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    /// The directory or file.
    pub path: PathBuf,
    /// Its mode before (permission bits only).
    pub was: u32,
    /// Its mode now.
    pub now: u32,
}

impl std::fmt::Display for Tightened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} was accessible to other users (mode {:04o}); changed to {:04o}",
            self.path.display(),
            self.was,
            self.now
        )
    }
}

/// Creates the data directory `home` (and missing parents) if it does not exist; the directory
/// itself gets mode 0700 whatever the umask (parents are left as the system makes them).
pub fn create_dir(home: &Path) -> io::Result<()> {
    if home.is_dir() {
        return Ok(());
    }
    if let Some(parent) = home.parent()
        && !parent.as_os_str().is_empty()
    {
        fs::create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(DIR_MODE).create(home) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && home.is_dir() => {}
        Err(e) => return Err(e),
    }
    // The umask may have removed bits; it never adds any, but set the exact mode anyway.
    fs::set_permissions(home, fs::Permissions::from_mode(DIR_MODE))
}

/// Opens `path` for writing, creating it with mode 0600 (exactly, whatever the umask) if it
/// does not exist; an existing file is tightened to 0600 too.
pub fn open_private(path: &Path, truncate: bool) -> io::Result<fs::File> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(truncate)
        .mode(FILE_MODE)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Sets the data directory to 0700 and its known files ([`FILES`]) to 0600 where they are
/// looser (any bit for group or others, or not owner-readable and writable). Returns what it
/// changed; nothing if all was right or `home` does not exist. Symbolic links are left alone.
/// The directory itself is changed only once it holds one of our files, so a `--home` given by
/// mistake (a shared or system directory) is not closed just by naming it.
pub fn tighten(home: &Path) -> io::Result<Vec<Tightened>> {
    let meta = match fs::metadata(home) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    let mut ours = false;
    for name in FILES {
        let path = home.join(name);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        ours = true;
        if meta.is_file() {
            fix(
                &path,
                meta.permissions().mode() & 0o7777,
                FILE_MODE,
                &mut files,
            )?;
        }
    }
    // The directory first in the report: it is what the person named.
    let mut out = Vec::new();
    if ours {
        fix(home, meta.permissions().mode() & 0o7777, DIR_MODE, &mut out)?;
    }
    out.append(&mut files);
    Ok(out)
}

fn fix(path: &Path, was: u32, want: u32, out: &mut Vec<Tightened>) -> io::Result<()> {
    if was == want {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(want))?;
    // Only a change that took something away from other users is worth a notice; a file that
    // was, say, 0400 is just put back to 0600.
    if was & 0o077 != 0 {
        out.push(Tightened {
            path: path.to_path_buf(),
            was,
            now: want,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tighten_reports_loose_modes_and_fixes_them() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        create_dir(&home).unwrap();
        assert_eq!(
            fs::metadata(&home).unwrap().permissions().mode() & 0o777,
            DIR_MODE
        );
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        let ks = home.join("keystore.json");
        fs::write(&ks, b"{}").unwrap();
        fs::set_permissions(&ks, fs::Permissions::from_mode(0o644)).unwrap();
        let changed = tighten(&home).unwrap();
        assert_eq!(
            changed,
            vec![
                Tightened {
                    path: home.clone(),
                    was: 0o755,
                    now: 0o700
                },
                Tightened {
                    path: ks.clone(),
                    was: 0o644,
                    now: 0o600
                },
            ]
        );
        assert_eq!(
            fs::metadata(&ks).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(tighten(&home).unwrap().is_empty());
    }

    #[test]
    fn a_directory_without_our_files_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        assert!(tighten(dir.path()).unwrap().is_empty());
        assert_eq!(
            fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
}
