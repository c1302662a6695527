//! The CA's state directory on disk: owner-only permissions and atomic, durable file writes.
//!
//! A file is written to a temporary sibling, fsynced, renamed over its final name and the
//! directory is fsynced, so a crash leaves either the old or the new content, never half of
//! one. A half-written file can therefore only come from outside (disk corruption, a user's
//! edit), and the loaders refuse it by name.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::error::CaFileProblem;

/// Prefix of temporary files; leftovers from a crash are removed on the next load.
const TEMP_PREFIX: &str = ".meridian-tmp-";
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// How an atomic write treats an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replace {
    /// Replace any existing file.
    Overwrite,
    /// Fail with `AlreadyExists` when the file exists (first creation racing another process).
    NoClobber,
}

/// Creates `dir` (and parents) owner-only, or tightens an existing directory to 0700, and
/// removes temporary files a crash may have left.
pub(crate) fn prepare_dir(dir: &Path) -> Result<(), Error> {
    let dir_err = |source| Error::StateDir {
        path: dir.to_owned(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(dir_err)?;
    let mode = fs::metadata(dir).map_err(dir_err)?.permissions().mode() & 0o777;
    if mode != DIR_MODE {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{mode:o}"),
            "ca state directory was accessible to others; restricting it to its owner"
        );
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)).map_err(dir_err)?;
    }
    for entry in fs::read_dir(dir).map_err(dir_err)? {
        let entry = entry.map_err(dir_err)?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            // A leftover of an interrupted write: its content never became a CA file.
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Makes a file owner-only if it is not; used for CA files of our own state directory.
pub(crate) fn restrict_file(path: &Path) -> Result<(), Error> {
    let write_err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(write_err)?.permissions().mode() & 0o777;
    if mode != FILE_MODE {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{mode:o}"),
            "ca file was accessible to others; restricting it to its owner"
        );
        fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE)).map_err(write_err)?;
    }
    Ok(())
}

/// Writes `contents` to `path` atomically and durably with mode 0600.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], replace: Replace) -> Result<(), Error> {
    let write_err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // tempfile creates the file 0600 with O_EXCL.
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(fs::Permissions::from_mode(FILE_MODE))
        .tempfile_in(dir)
        .map_err(write_err)?;
    temp.write_all(contents).map_err(write_err)?;
    temp.as_file().sync_all().map_err(write_err)?;
    match replace {
        Replace::Overwrite => {
            temp.persist(path).map_err(|e| write_err(e.error))?;
        }
        Replace::NoClobber => {
            temp.persist_noclobber(path)
                .map_err(|e| write_err(e.error))?;
        }
    }
    // The rename is durable only once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err)?;
    Ok(())
}

/// Reads a CA file, naming it in the error.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|e| Error::CaFile {
        path: path.to_owned(),
        problem: match e.kind() {
            io::ErrorKind::NotFound => CaFileProblem::Missing,
            _ => CaFileProblem::Unreadable(e),
        },
    })
}

/// Warns when a key file the user manages can be read by others; their files are theirs to
/// fix, so this does not refuse them.
pub(crate) fn warn_if_exposed(path: &Path) {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                "ca private key is readable by others than its owner; consider chmod 600"
            );
        }
    }
}

/// Whether `path` exists (a broken symlink or permission error counts as present, so that
/// the loader reports it instead of silently creating a new CA beside it).
pub(crate) fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Joins a state-directory file name.
pub(crate) fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_are_owner_only_and_replace_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        prepare_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let path = dir.join("a.pem");
        write_atomic(&path, b"first", Replace::NoClobber).unwrap();
        assert_eq!(mode(&path), 0o600);
        let again = write_atomic(&path, b"second", Replace::NoClobber);
        assert!(matches!(again, Err(Error::Write { .. })));
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second", Replace::Overwrite).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn loose_directory_is_tightened_and_leftovers_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        let leftover = dir.join(format!("{TEMP_PREFIX}abc"));
        fs::write(&leftover, b"half").unwrap();
        prepare_dir(dir).unwrap();
        assert_eq!(mode(dir), 0o700);
        assert!(!leftover.exists());
    }

    #[test]
    fn missing_file_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ca-key.pem");
        match read_ca_file(&path) {
            Err(Error::CaFile {
                path: p,
                problem: CaFileProblem::Missing,
            }) => assert_eq!(p, path),
            other => panic!("unexpected {other:?}"),
        }
    }
}
