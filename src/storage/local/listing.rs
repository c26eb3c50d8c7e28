//! Walking the root: listing by prefix and removing everything under a prefix.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use super::paths;
use crate::storage::{KeyPrefix, ObjectKey};

/// Every regular file below `root` whose key starts with `prefix`, sorted by key. Dot entries
/// (bookkeeping) and symbolic links are skipped; only directories that can contain matching
/// keys are entered.
pub(super) fn list_files(root: &Path, prefix: &KeyPrefix) -> io::Result<Vec<(ObjectKey, PathBuf, fs::Metadata)>> {
    let prefix = prefix.as_str();
    let start = prefix.rfind('/').map_or("", |slash| &prefix[..slash]);
    let Some(start_path) = paths::existing_directory(root, start)? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    let mut pending = vec![(start_path, start.to_owned())];
    while let Some((directory, relative)) = pending.pop() {
        let entries = match fs::read_dir(&directory) {
            Ok(entries) => entries,
            // A concurrent delete_prefix may remove a directory while we walk.
            Err(error) if error.kind() == ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let key = if relative.is_empty() { name } else { format!("{relative}/{name}") };
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                let as_directory = format!("{key}/");
                if as_directory.starts_with(prefix) || prefix.starts_with(&as_directory) {
                    pending.push((entry.path(), key));
                }
            } else if file_type.is_file() && key.starts_with(prefix) {
                // A file whose name is not a valid key was not written by Lectern; skip it.
                let Ok(object_key) = ObjectKey::parse(key) else {
                    continue;
                };
                match entry.metadata() {
                    Ok(metadata) => found.push((object_key, entry.path(), metadata)),
                    Err(error) if error.kind() == ErrorKind::NotFound => {}
                    Err(error) => return Err(error),
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// Removes every object under `prefix` and then the directories that held them and are now
/// empty; returns how many objects were removed.
pub(super) fn remove_files(root: &Path, prefix: &KeyPrefix) -> io::Result<u64> {
    let mut removed = 0;
    let mut directories = BTreeSet::new();
    for (_key, path, _metadata) in list_files(root, prefix)? {
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        directories.extend(path.ancestors().skip(1).take_while(|dir| *dir != root).map(Path::to_path_buf));
    }
    // Deepest first, so children go before their parents; directories that still hold
    // something fail to be removed, which is exactly what should happen.
    let mut directories: Vec<PathBuf> = directories.into_iter().collect();
    directories.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
    for directory in directories {
        let _ = fs::remove_dir(&directory);
    }
    Ok(removed)
}
