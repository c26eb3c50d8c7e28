//! What a certificate asserts, and its signature. Pure: no IO, no clock.
//!
//! A record is signed as its canonical JSON (see [`super::canonical`]): the signature is pure
//! Ed25519 over exactly those UTF-8 bytes, which are also what is stored, so what was signed is
//! what is served. The key id travels beside the record (the JWKS at
//! `/.well-known/lectern-certificate-keys.json` maps it to the public key). Anyone can check a
//! certificate offline: canonicalise `record`, verify the signature with the published key.
//!
//! Every figure is an integer: shares are in per mille (floored, so a record never rounds a
//! learner up to a threshold they did not reach), durations in whole seconds, and times are UTC
//! RFC 3339 to the second (`2026-12-03T10:15:00Z`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::canonical::{CanonicalError, canonical_json};
use super::signer::CertificateSigner;

/// The `schema` of the records this code writes. A verifier that meets another value should not
/// assume it knows what the record means.
pub const SCHEMA: &str = "lectern.certificate.v1";

/// What a certificate asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateRecord {
    /// Always `lectern.certificate.v1` for this layout.
    #[schema(example = "lectern.certificate.v1")]
    pub schema: String,
    /// 122 random bits (a UUIDv4), never derived from anything.
    pub certificate_id: Uuid,
    #[serde(with = "seconds")]
    #[schema(value_type = String, example = "2026-12-03T10:15:00Z")]
    pub issued_at: OffsetDateTime,
    /// The public URL of the server that issued it (and publishes its keys).
    #[schema(example = "https://learn.example.com")]
    pub issuer: String,
    pub course: CourseFacts,
    pub learner: LearnerFacts,
    pub enrollment: EnrollmentFacts,
    pub completion_rule: CompletionRule,
    /// Every lesson of the course at issue time, in course order.
    pub lessons: Vec<LessonFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CourseFacts {
    pub course_id: Uuid,
    /// The title when the certificate was issued.
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LearnerFacts {
    pub account_id: Uuid,
    /// The name the learner asked to have on their certificates, else their email.
    pub name: String,
}

/// The enrolment attempt the certificate is for: a course assigned again is a new attempt with a
/// certificate of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentFacts {
    pub enrollment_id: Uuid,
    /// 1 for the first enrolment in the course, 2 for the next, …
    pub attempt: u32,
    #[serde(with = "seconds")]
    #[schema(value_type = String)]
    pub enrolled_at: OffsetDateTime,
    #[serde(with = "seconds")]
    #[schema(value_type = String)]
    pub completed_at: OffsetDateTime,
}

/// How the course decided completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CompletionRule {
    /// `all`: the course is complete when every required lesson is.
    #[schema(example = "all")]
    pub required_lessons: String,
    /// The covered share of a video that completes a lesson which sets no threshold of its own.
    #[schema(example = 900)]
    pub default_threshold_per_mille: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LessonFacts {
    pub lesson_id: Uuid,
    pub title: String,
    /// `video`, `text` or `link`.
    pub kind: String,
    pub required: bool,
    /// The covered share that completes this lesson (its own, else the course's).
    pub threshold_per_mille: u16,
    /// The video's length; absent for other kinds (and a video not processed yet).
    pub duration_seconds: Option<u32>,
    /// The share of the video's seconds the learner watched; absent where there is no duration.
    pub covered_per_mille: Option<u16>,
    #[serde(with = "seconds::option")]
    #[schema(value_type = Option<String>)]
    pub completed_at: Option<OffsetDateTime>,
}

/// A record as signed: its canonical JSON, the signature of those bytes and the signing key's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRecord {
    pub canonical: String,
    pub signature: Vec<u8>,
    pub key_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the record cannot be made canonical")]
    Canonical(#[from] CanonicalError),
    #[error("the record is not valid JSON of the expected shape")]
    Json(#[from] serde_json::Error),
    #[error("the record is not in canonical form")]
    NotCanonical,
    #[error("unknown schema {0:?}")]
    UnknownSchema(String),
    #[error("no published certificate key has the id {0:?}")]
    UnknownKey(String),
    #[error("the signature does not match the record")]
    BadSignature,
}

impl CertificateRecord {
    /// The bytes the signature covers.
    pub fn canonical_json(&self) -> Result<String, RecordError> {
        Ok(canonical_json(&serde_json::to_value(self)?)?)
    }
}

/// Signs `record` with the current certificate key.
pub fn sign(signer: &CertificateSigner, record: &CertificateRecord) -> Result<SignedRecord, RecordError> {
    let canonical = record.canonical_json()?;
    let signature = signer.sign(canonical.as_bytes());
    Ok(SignedRecord { canonical, signature, key_id: signer.key_id().to_owned() })
}

/// Checks a signed record and returns what it asserts: the key must be published, the signature
/// must cover exactly these bytes, the bytes must be the record's canonical form (so one record
/// has one signed spelling) and the schema must be one this code reads.
pub fn verify(signer: &CertificateSigner, signed: &SignedRecord) -> Result<CertificateRecord, RecordError> {
    if !signer.knows(&signed.key_id) {
        return Err(RecordError::UnknownKey(signed.key_id.clone()));
    }
    if !signer.verify(&signed.key_id, signed.canonical.as_bytes(), &signed.signature) {
        return Err(RecordError::BadSignature);
    }
    let value: serde_json::Value = serde_json::from_str(&signed.canonical)?;
    if canonical_json(&value)? != signed.canonical {
        return Err(RecordError::NotCanonical);
    }
    let schema = value.get("schema").and_then(serde_json::Value::as_str).unwrap_or_default();
    if schema != SCHEMA {
        return Err(RecordError::UnknownSchema(schema.to_owned()));
    }
    Ok(serde_json::from_value(value)?)
}

/// A share in per mille, floored and capped at 1000: `covered` of `total`.
pub fn per_mille(covered: u64, total: u64) -> u16 {
    if total == 0 {
        return 0;
    }
    u16::try_from(covered.min(total) * 1000 / total).unwrap_or(1000)
}

/// A stored threshold (a `real` between 0.5 and 1.0) in per mille, to the nearest.
pub fn threshold_per_mille(threshold: f32) -> u16 {
    let rounded = (f64::from(threshold) * 1000.0).round().clamp(0.0, 1000.0);
    // In range by the clamp, so the conversion is exact.
    rounded as u16
}

/// Times in records: UTC, whole seconds, `Z`. Anything finer is dropped (floored), so the text
/// is the same however the time was stored.
pub mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

    /// `time` truncated to the second, in UTC.
    pub fn truncate(time: OffsetDateTime) -> OffsetDateTime {
        let utc = time.to_offset(time::UtcOffset::UTC);
        utc.replace_nanosecond(0).unwrap_or(utc)
    }

    pub fn format(time: OffsetDateTime) -> String {
        truncate(time).format(FORMAT).unwrap_or_default()
    }

    pub fn serialize<S: Serializer>(time: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        // `&Option` is the signature serde's `with` demands.
        pub fn serialize<S: Serializer>(time: &Option<OffsetDateTime>, serializer: S) -> Result<S::Ok, S::Error> {
            match time {
                Some(time) => serializer.serialize_str(&super::format(*time)),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<OffsetDateTime>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|text| OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::keys::{CertificateSigningKey, CertificateVerifyingKey};

    /// A signer with a fresh key.
    pub(crate) fn signer() -> CertificateSigner {
        signer_with(&[])
    }

    fn fresh_key(key_id: &str) -> CertificateSigningKey {
        use aws_lc_rs::signature::KeyPair;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let document = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("a key");
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(document.as_ref()).expect("parses");
        CertificateSigningKey {
            key_id: key_id.to_owned(),
            pkcs8_der: document.as_ref().to_vec(),
            public_key: pair.public_key().as_ref().to_vec(),
        }
    }

    fn signer_with(previous: &[CertificateVerifyingKey]) -> CertificateSigner {
        CertificateSigner::new(&fresh_key("ed25519-current"), previous).expect("a valid key")
    }

    /// A record as a Russian-speaking learner's would be, with every kind of lesson.
    pub(crate) fn sample_record() -> CertificateRecord {
        CertificateRecord {
            schema: SCHEMA.to_owned(),
            certificate_id: Uuid::from_u128(0x5f0c_2a4e_8b1d_4c3a_9e7f_1a2b_3c4d_5e6f),
            issued_at: datetime!(2026-12-03 10:15:00 UTC),
            issuer: "https://learn.example.com".to_owned(),
            course: CourseFacts {
                course_id: Uuid::from_u128(1),
                title: "Основы видеомонтажа: от съёмки до публикации".to_owned(),
            },
            learner: LearnerFacts {
                account_id: Uuid::from_u128(2), name: "Анна Сергеевна Петрова".to_owned()
            },
            enrollment: EnrollmentFacts {
                enrollment_id: Uuid::from_u128(3),
                attempt: 1,
                enrolled_at: datetime!(2026-11-20 08:00:00 UTC),
                completed_at: datetime!(2026-12-03 10:14:59 UTC),
            },
            completion_rule: CompletionRule { required_lessons: "all".to_owned(), default_threshold_per_mille: 900 },
            lessons: vec![
                LessonFacts {
                    lesson_id: Uuid::from_u128(10),
                    title: "Введение".to_owned(),
                    kind: "video".to_owned(),
                    required: true,
                    threshold_per_mille: 900,
                    duration_seconds: Some(1260),
                    covered_per_mille: Some(1000),
                    completed_at: Some(datetime!(2026-11-21 19:02:11 UTC)),
                },
                LessonFacts {
                    lesson_id: Uuid::from_u128(11),
                    title: "Colour grading".to_owned(),
                    kind: "video".to_owned(),
                    required: true,
                    threshold_per_mille: 800,
                    duration_seconds: Some(2735),
                    covered_per_mille: Some(934),
                    completed_at: Some(datetime!(2026-12-03 10:14:59 UTC)),
                },
                LessonFacts {
                    lesson_id: Uuid::from_u128(12),
                    title: "Further reading".to_owned(),
                    kind: "text".to_owned(),
                    required: false,
                    threshold_per_mille: 900,
                    duration_seconds: None,
                    covered_per_mille: None,
                    completed_at: None,
                },
            ],
        }
    }

    #[test]
    fn a_signed_record_verifies_and_reads_back_as_it_was() {
        let signer = signer();
        let record = sample_record();
        let signed = sign(&signer, &record).expect("signed");
        assert_eq!(signed.signature.len(), 64);
        assert_eq!(signed.key_id, "ed25519-current");
        assert_eq!(verify(&signer, &signed).expect("verifies"), record);
    }

    #[test]
    fn the_canonical_form_is_sorted_compact_utf8_with_times_to_the_second() {
        let mut record = sample_record();
        record.issued_at = datetime!(2026-12-03 13:15:00.987654 +03:00);
        let canonical = record.canonical_json().expect("canonical");
        assert!(canonical.starts_with(r#"{"certificate_id":"5f0c2a4e-8b1d-4c3a-9e7f-1a2b3c4d5e6f","completion_rule":{"default_threshold_per_mille":900,"required_lessons":"all"},"course":{"course_id":"#), "{canonical}");
        assert!(canonical.contains(r#""issued_at":"2026-12-03T10:15:00Z""#), "{canonical}");
        assert!(canonical.contains("\"name\":\"Анна Сергеевна Петрова\""), "{canonical}");
        assert!(canonical.contains(r#""completed_at":null,"covered_per_mille":null,"duration_seconds":null"#));
        let reparsed: serde_json::Value = serde_json::from_str(&canonical).expect("json");
        assert_eq!(canonical_json(&reparsed).expect("canonical"), canonical, "a fixed point");
        assert!(!canonical.contains('\n') && !canonical.contains("\": ") && !canonical.contains(", \""));
    }

    #[test]
    fn any_change_to_the_record_breaks_the_signature() {
        let signer = signer();
        let signed = sign(&signer, &sample_record()).expect("signed");

        let renamed = SignedRecord { canonical: signed.canonical.replace("Анна", "Анне"), ..signed.clone() };
        assert!(matches!(verify(&signer, &renamed), Err(RecordError::BadSignature)));

        let better = SignedRecord { canonical: signed.canonical.replace(":934,", ":999,"), ..signed.clone() };
        assert_ne!(better.canonical, signed.canonical);
        assert!(matches!(verify(&signer, &better), Err(RecordError::BadSignature)));

        let mut signature = signed.signature.clone();
        signature[10] ^= 1;
        assert!(matches!(
            verify(&signer, &SignedRecord { signature, ..signed.clone() }),
            Err(RecordError::BadSignature)
        ));

        let unknown = SignedRecord { key_id: "ed25519-someone-else".to_owned(), ..signed.clone() };
        assert!(matches!(verify(&signer, &unknown), Err(RecordError::UnknownKey(_))));

        // Another key, even under the same id, does not verify this signature.
        assert!(matches!(verify(&self::signer(), &signed), Err(RecordError::BadSignature)));
    }

    #[test]
    fn a_validly_signed_record_in_another_spelling_is_refused() {
        let signer = signer();
        let pretty = serde_json::to_string_pretty(&sample_record()).expect("json");
        let signed = SignedRecord {
            signature: signer.sign(pretty.as_bytes()),
            canonical: pretty,
            key_id: "ed25519-current".to_owned(),
        };
        assert!(matches!(verify(&signer, &signed), Err(RecordError::NotCanonical)));
    }

    #[test]
    fn a_previous_key_still_verifies_what_it_signed() {
        let old = signer();
        let signed = sign(&old, &sample_record()).expect("signed");
        let old_public = old.jwks()["keys"][0]["x"].as_str().expect("x").to_owned();
        let public_key =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, old_public).expect("b64");
        // The old key's id must differ from the new current one's for both to be published.
        let previous = CertificateVerifyingKey { key_id: "ed25519-old".to_owned(), public_key };
        let rotated = CertificateSigner::new(&fresh_key("ed25519-new"), &[previous]).expect("valid");
        let signed = SignedRecord { key_id: "ed25519-old".to_owned(), ..signed };
        assert!(verify(&rotated, &signed).is_ok());
        assert_eq!(rotated.jwks()["keys"].as_array().expect("keys").len(), 2);
    }

    #[test]
    fn shares_are_floored_and_thresholds_read_as_stored() {
        assert_eq!(per_mille(899, 1000), 899);
        assert_eq!(per_mille(2, 3), 666);
        assert_eq!(per_mille(12, 10), 1000);
        assert_eq!(per_mille(5, 0), 0);
        assert_eq!(threshold_per_mille(0.9), 900);
        assert_eq!(threshold_per_mille(0.85), 850);
        assert_eq!(threshold_per_mille(1.0), 1000);
    }
}
