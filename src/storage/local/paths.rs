//! Turning keys into paths below the root without ever leaving it.
//!
//! `ObjectKey` already rules out `..`, absolute paths and dot segments. What it cannot rule out
//! is the filesystem itself: a symbolic link planted below the root (by an operator, a restore
//! or another process) would let a valid key reach outside. So every existing component below
//! the root is inspected with `symlink_metadata` and a link anywhere is refused, and the
//! canonical parent must still lie below the canonical root. A link created between the check
//! and the open remains possible; closing that window would need `openat2(RESOLVE_BENEATH)`,
//! which std does not offer.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use crate::storage::ObjectKey;

/// The path of `key` below `root` (which must be canonical). With `create_parents`, missing
/// directories on the way are created; without, a missing one yields `NotFound`.
pub(super) fn object_path(root: &Path, key: &ObjectKey, create_parents: bool) -> io::Result<PathBuf> {
    let segments: Vec<&str> = key.segments().collect();
    let (file_name, directories) = segments.split_last().expect("a parsed key has at least one segment");
    let mut path = root.to_path_buf();
    for directory in directories {
        path.push(directory);
        match fs::symlink_metadata(&path) {
            Ok(metadata) => ensure_directory(&path, &metadata)?,
            Err(error) if error.kind() == ErrorKind::NotFound && create_parents => {
                match fs::create_dir(&path) {
                    Ok(()) => {}
                    // Another writer created it first; it must still pass the same checks.
                    Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                        ensure_directory(&path, &fs::symlink_metadata(&path)?)?;
                    }
                    Err(error) => return Err(error),
                }
            }
            Err(error) => return Err(error),
        }
    }
    path.push(file_name);
    if let Ok(metadata) = fs::symlink_metadata(&path)
        && metadata.file_type().is_symlink()
    {
        return Err(symlink_refused(&path));
    }
    let parent = path.parent().expect("a path below the root has a parent");
    if !fs::canonicalize(parent)?.starts_with(root) {
        return Err(io::Error::new(
            ErrorKind::PermissionDenied,
            format!("{} resolves outside the storage root", parent.display()),
        ));
    }
    Ok(path)
}

/// Like [`object_path`] for a directory-shaped prefix (`a/b` of `a/b/c`): `Ok(None)` when some
/// component is missing or is not a directory, so listing it yields nothing.
pub(super) fn existing_directory(root: &Path, relative: &str) -> io::Result<Option<PathBuf>> {
    let mut path = root.to_path_buf();
    for segment in relative.split('/').filter(|segment| !segment.is_empty()) {
        path.push(segment);
        match fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(symlink_refused(&path));
            }
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Ok(None),
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        }
    }
    Ok(Some(path))
}

fn ensure_directory(path: &Path, metadata: &fs::Metadata) -> io::Result<()> {
    if metadata.file_type().is_symlink() {
        Err(symlink_refused(path))
    } else if metadata.is_dir() {
        Ok(())
    } else {
        Err(io::Error::new(
            ErrorKind::NotADirectory,
            format!("{} is an object, so it cannot also be a prefix", path.display()),
        ))
    }
}

fn symlink_refused(path: &Path) -> io::Error {
    io::Error::new(
        ErrorKind::PermissionDenied,
        format!("refusing to follow the symbolic link {} below the storage root", path.display()),
    )
}
