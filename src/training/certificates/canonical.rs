//! The canonical bytes of a JSON value: what a certificate's signature covers.
//!
//! This is RFC 8785 (the JSON Canonicalization Scheme) restricted to integers: object members
//! sorted by their names' UTF-16 code units, no whitespace, strings escaped as ECMAScript's
//! `JSON.stringify` escapes them (`\"`, `\\`, `\b \f \n \r \t`, other control characters as
//! `\u00xx` in lower case, everything else as UTF-8), and numbers as plain integers. Floating-point
//! numbers are refused rather than formatted: every figure in a record is an integer (ratios are
//! in per mille), so there is no question of how `0.1` is written. Within that restriction the
//! output equals RFC 8785's, and equals Python's
//! `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` for the
//! ASCII member names a record uses.

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    #[error("{0} is not an integer; canonical records hold integers only")]
    NotAnInteger(String),
}

/// The canonical form of `value` as a string (UTF-8, like the bytes that are signed).
pub fn canonical_json(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::new();
    write_value(&mut out, value)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                out.push_str(&integer.to_string());
            } else if let Some(integer) = number.as_u64() {
                out.push_str(&integer.to_string());
            } else {
                return Err(CanonicalError::NotAnInteger(number.to_string()));
            }
        }
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut names: Vec<&String> = members.keys().collect();
            names.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (index, name) in names.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_value(out, &members[name.as_str()])?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if u32::from(control) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(control))),
            other => out.push(other),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn members_are_sorted_and_there_is_no_whitespace() {
        let value = json!({"b": [1, {"z": null, "a": true}], "a": "x", "A": -3, "aa": false});
        assert_eq!(
            canonical_json(&value).expect("integers"),
            r#"{"A":-3,"a":"x","aa":false,"b":[1,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_json_stringify_does_and_other_text_stays_utf8() {
        let value = json!("Анна \"Q\" \\ \n\t\u{1} \u{7f} é/€😀");
        assert_eq!(canonical_json(&value).expect("a string"), "\"Анна \\\"Q\\\" \\\\ \\n\\t\\u0001 \u{7f} é/€😀\"");
    }

    #[test]
    fn names_sort_by_utf16_code_units_not_by_code_points() {
        // U+FB33 is above the surrogates in code points but below them in UTF-16 code units
        // (RFC 8785 section 3.2.3's example of the difference).
        let value = json!({"\u{fb33}": 1, "\u{1f600}": 2});
        assert_eq!(canonical_json(&value).expect("integers"), "{\"\u{1f600}\":2,\"\u{fb33}\":1}");
    }

    #[test]
    fn floating_point_numbers_are_refused() {
        assert_eq!(canonical_json(&json!({"ratio": 0.9})), Err(CanonicalError::NotAnInteger("0.9".to_owned())));
        assert_eq!(canonical_json(&json!(u64::MAX)).expect("u64"), u64::MAX.to_string());
    }
}
