//! `ByteRange` to and from the HTTP `Range` header, shared by the local routes, the S3 backend
//! and delivery.

use super::ByteRange;

impl ByteRange {
    /// Parses a single-range `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`). Multiple
    /// ranges and malformed values give `None`: RFC 9110 lets a server ignore such a header and
    /// answer 200 with the whole object, which is what callers then do.
    pub fn parse_header(value: &str) -> Option<Self> {
        let spec = value.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let number = |text: &str| text.trim().parse::<u64>().ok();
        match (first.trim().is_empty(), last.trim().is_empty()) {
            (true, false) => Some(Self::Suffix(number(last)?)),
            (false, true) => Some(Self::From(number(first)?)),
            (false, false) => {
                let (first, last) = (number(first)?, number(last)?);
                (first <= last).then_some(Self::Inclusive(first, last))
            }
            (true, true) => None,
        }
    }

    /// The `Range` header value asking for this range.
    pub fn to_header(self) -> String {
        match self {
            Self::From(first) => format!("bytes={first}-"),
            Self::Inclusive(first, last) => format!("bytes={first}-{last}"),
            Self::Suffix(length) => format!("bytes=-{length}"),
        }
    }
}

/// Parses a `Content-Range` header (`bytes 0-9/100`) into `(first, last, Some(total))`;
/// the total is `None` when the server sent `*`.
pub fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let total = if total == "*" { None } else { Some(total.parse().ok()?) };
    Some((first.parse().ok()?, last.parse().ok()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_parse_and_print_back() {
        for (header, range) in [
            ("bytes=0-99", ByteRange::Inclusive(0, 99)),
            ("bytes=100-", ByteRange::From(100)),
            ("bytes=-500", ByteRange::Suffix(500)),
        ] {
            assert_eq!(ByteRange::parse_header(header), Some(range));
            assert_eq!(range.to_header(), header);
        }
    }

    #[test]
    fn malformed_or_multiple_ranges_are_ignored() {
        for header in ["bytes=5-2", "bytes=-", "items=0-1", "bytes=0-1,4-5", "bytes=a-b", ""] {
            assert_eq!(ByteRange::parse_header(header), None, "{header}");
        }
    }

    #[test]
    fn content_ranges_parse_with_and_without_a_total() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, Some(100))));
        assert_eq!(parse_content_range("bytes 5-6/*"), Some((5, 6, None)));
        assert_eq!(parse_content_range("bytes */100"), None);
    }
}
