//! Validated object keys ("parse, don't validate"): once a key exists, it is safe to join to a
//! local root and to send to S3.

use std::fmt;

const MAX_KEY_BYTES: usize = 1024;

/// A relative, `/`-separated object key such as `assets/0193…/v1/720p/seg_00001.m4s`.
///
/// Rules: 1 to 1024 bytes; no leading or trailing `/`; no empty, `.` or `..` segment; no
/// segment starting with `.` (the local backend keeps its own bookkeeping there); no control
/// characters and no backslash.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(key: impl Into<String>) -> Result<Self, super::StorageError> {
        let key = key.into();
        check(&key, false)?;
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's segments, e.g. `["assets", "x", "v1"]`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last segment (the "file name").
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// Appends a relative path; the result is validated again.
    pub fn join(&self, rest: &str) -> Result<Self, super::StorageError> {
        Self::parse(format!("{}/{rest}", self.0))
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key prefix for listing and bulk deletion. Same rules as [`ObjectKey`], except that it may
/// end with `/` (and usually should, so `assets/1/` does not also match `assets/10/`). The empty
/// prefix matches everything.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(prefix: impl Into<String>) -> Result<Self, super::StorageError> {
        let prefix = prefix.into();
        if !prefix.is_empty() {
            check(&prefix, true)?;
        }
        Ok(Self(prefix))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, key: &ObjectKey) -> bool {
        key.as_str().starts_with(&self.0)
    }
}

impl fmt::Debug for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

fn check(key: &str, allow_trailing_slash: bool) -> Result<(), super::StorageError> {
    let invalid = |reason| Err(super::StorageError::InvalidKey { key: key.escape_debug().to_string(), reason });
    if key.is_empty() {
        return invalid("empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return invalid("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return invalid("absolute path");
    }
    if key.chars().any(|c| c.is_control()) {
        return invalid("control character");
    }
    if key.contains('\\') {
        return invalid("backslash");
    }
    let body = if allow_trailing_slash { key.strip_suffix('/').unwrap_or(key) } else { key };
    for segment in body.split('/') {
        match segment {
            "" => return invalid("empty segment"),
            "." | ".." => return invalid("dot segment"),
            s if s.starts_with('.') => return invalid("segment starting with '.'"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_are_accepted() {
        for key in ["a", "assets/1/v1/720p/seg_00001.m4s", "x/y z/é.mp4", "a/b..c"] {
            assert!(ObjectKey::parse(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn keys_that_could_escape_or_confuse_are_refused() {
        let long = "a".repeat(1025);
        for key in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            ".hidden",
            "a/.staging/x",
            "a\\b",
            "a\u{0}b",
            "a\nb",
            "a\u{7f}b",
            long.as_str(),
        ] {
            assert!(ObjectKey::parse(key).is_err(), "{key:?} should be refused");
        }
    }

    #[test]
    fn prefixes_may_end_with_a_slash_but_not_escape() {
        assert!(KeyPrefix::parse("assets/1/").is_ok());
        assert!(KeyPrefix::parse("").is_ok());
        assert!(KeyPrefix::parse("../").is_err());
        assert!(KeyPrefix::parse("a//").is_err());
        let prefix = KeyPrefix::parse("assets/1/").expect("valid");
        assert!(prefix.matches(&ObjectKey::parse("assets/1/x").expect("valid")));
        assert!(!prefix.matches(&ObjectKey::parse("assets/10/x").expect("valid")));
    }

    #[test]
    fn ranges_resolve_like_http() {
        assert_eq!(ByteRange::From(2).resolve(10), Some((2, 9)));
        assert_eq!(ByteRange::Inclusive(2, 100).resolve(10), Some((2, 9)));
        assert_eq!(ByteRange::Suffix(3).resolve(10), Some((7, 9)));
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::From(10).resolve(10), None);
        assert_eq!(ByteRange::Inclusive(5, 4).resolve(10), None);
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
        assert_eq!(ByteRange::From(0).resolve(0), None);
    }

    use super::super::ByteRange;
}
