//! All SQL of `certificate` and `certificate_name`, and the reads of training's tables that a
//! certificate's record is built from.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::CertificateError;
use super::record::{
    self, CertificateRecord, CompletionRule, CourseFacts, EnrollmentFacts, LearnerFacts, LessonFacts, SCHEMA,
    SignedRecord,
};
use super::signer::CertificateSigner;

/// A certificate as stored: the signed record and the facts queries need.
#[derive(Debug, Clone)]
pub struct StoredCertificate {
    pub certificate_id: Uuid,
    /// Absent once the enrolment is deleted (the record keeps its id).
    pub enrollment_id: Option<Uuid>,
    pub course_id: Option<Uuid>,
    pub account_id: Uuid,
    pub issued_at: OffsetDateTime,
    /// The canonical JSON that `signature` covers.
    pub record: String,
    pub signature: Vec<u8>,
    pub key_id: String,
    pub revoked_at: Option<OffsetDateTime>,
}

impl StoredCertificate {
    pub fn signed(&self) -> SignedRecord {
        SignedRecord { canonical: self.record.clone(), signature: self.signature.clone(), key_id: self.key_id.clone() }
    }
}

/// The answer of [`issue_in`].
#[derive(Debug, Clone)]
pub struct Issued {
    pub certificate: StoredCertificate,
    /// False when the enrolment already had its certificate (this call changed nothing).
    pub newly_issued: bool,
}

/// Issues the certificate of a completed enrolment attempt, inside the caller's transaction:
/// builds the record from the course, its lessons and the attempt's progress as they are now,
/// signs it and stores it.
///
/// Idempotent: an enrolment that already has a certificate gets that one back
/// (`newly_issued: false`), also when two transactions race. `None` when the course does not
/// enable certificates. The enrolment must exist and be completed (`completed_at` set): anything
/// else is the caller's bug and an error. `public_url` is the server's public URL, the record's
/// issuer.
pub async fn issue_in(
    conn: &mut PgConnection,
    signer: &CertificateSigner,
    public_url: &str,
    enrollment_id: Uuid,
) -> Result<Option<Issued>, CertificateError> {
    if let Some(existing) = find_by_enrollment(&mut *conn, enrollment_id).await? {
        return Ok(Some(Issued { certificate: existing, newly_issued: false }));
    }
    let enrollment = sqlx::query!(
        r#"select e.course_id, e.account_id, e.attempt, e.created_at, e.completed_at,
                  c.title, c.certificate_enabled, c.completion_threshold
           from enrollment e join course c on c.course_id = e.course_id
           where e.enrollment_id = $1"#,
        enrollment_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(CertificateError::EnrollmentNotFound(enrollment_id))?;
    if !enrollment.certificate_enabled {
        return Ok(None);
    }
    let completed_at = enrollment.completed_at.ok_or(CertificateError::EnrollmentNotCompleted(enrollment_id))?;

    let learner = sqlx::query!(
        r#"select a.email, n.name as "name?"
           from account a left join certificate_name n on n.account_id = a.account_id
           where a.account_id = $1"#,
        enrollment.account_id
    )
    .fetch_one(&mut *conn)
    .await?;

    let course_threshold = record::threshold_per_mille(enrollment.completion_threshold);
    let lessons = sqlx::query!(
        r#"select l.lesson_id, l.title, l.kind, l.required, l.completion_threshold, l.duration_ms,
                  p.covered_seconds as "covered_seconds?", p.completed_at as "completed_at?"
           from lesson l
           join course_section s on s.section_id = l.section_id
           left join lesson_progress p on p.lesson_id = l.lesson_id and p.enrollment_id = $2
           where l.course_id = $1
           order by s.position, l.position"#,
        enrollment.course_id,
        enrollment_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|lesson| {
        // One coverage bit per started second of the video, as training counts them.
        let duration_seconds =
            lesson.duration_ms.filter(|ms| *ms > 0).map(|ms| u32::try_from(ms).unwrap_or(0).div_ceil(1000));
        let covered_per_mille = duration_seconds.map(|seconds| {
            let covered = u64::try_from(lesson.covered_seconds.unwrap_or(0)).unwrap_or(0);
            record::per_mille(covered, u64::from(seconds))
        });
        LessonFacts {
            lesson_id: lesson.lesson_id,
            title: lesson.title,
            kind: lesson.kind,
            required: lesson.required,
            threshold_per_mille: lesson.completion_threshold.map_or(course_threshold, record::threshold_per_mille),
            duration_seconds,
            covered_per_mille,
            completed_at: lesson.completed_at.map(record::seconds::truncate),
        }
    })
    .collect();

    let issued_at = record::seconds::truncate(OffsetDateTime::now_utc());
    let record = CertificateRecord {
        schema: SCHEMA.to_owned(),
        certificate_id: Uuid::new_v4(),
        issued_at,
        issuer: public_url.trim_end_matches('/').to_owned(),
        course: CourseFacts { course_id: enrollment.course_id, title: enrollment.title },
        learner: LearnerFacts { account_id: enrollment.account_id, name: learner.name.unwrap_or(learner.email) },
        enrollment: EnrollmentFacts {
            enrollment_id,
            attempt: u32::try_from(enrollment.attempt).unwrap_or(1),
            enrolled_at: record::seconds::truncate(enrollment.created_at),
            completed_at: record::seconds::truncate(completed_at),
        },
        completion_rule: CompletionRule {
            required_lessons: "all".to_owned(),
            default_threshold_per_mille: course_threshold,
        },
        lessons,
    };
    let signed = record::sign(signer, &record)?;

    let inserted = sqlx::query_as!(
        StoredCertificate,
        r#"insert into certificate
               (certificate_id, enrollment_id, course_id, account_id, issued_at, record, signature, key_id)
           values ($1, $2, $3, $4, $5, $6, $7, $8)
           on conflict (enrollment_id) do nothing
           returning certificate_id, enrollment_id, course_id, account_id, issued_at, record, signature,
                     key_id, revoked_at"#,
        record.certificate_id,
        enrollment_id,
        record.course.course_id,
        record.learner.account_id,
        issued_at,
        signed.canonical,
        signed.signature,
        signed.key_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(certificate) = inserted {
        tracing::info!(certificate_id = %certificate.certificate_id, %enrollment_id, "certificate issued");
        return Ok(Some(Issued { certificate, newly_issued: true }));
    }
    // Another transaction issued it between our look and our insert; it has committed (the insert
    // waited for it), so this statement sees its row.
    let existing = find_by_enrollment(&mut *conn, enrollment_id).await?.ok_or(CertificateError::NotFound)?;
    Ok(Some(Issued { certificate: existing, newly_issued: false }))
}

pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    certificate_id: Uuid,
) -> Result<Option<StoredCertificate>, sqlx::Error> {
    sqlx::query_as!(
        StoredCertificate,
        r#"select certificate_id, enrollment_id, course_id, account_id, issued_at, record, signature, key_id,
                  revoked_at
           from certificate where certificate_id = $1"#,
        certificate_id
    )
    .fetch_optional(executor)
    .await
}

pub async fn find_by_enrollment<'e>(
    executor: impl PgExecutor<'e>,
    enrollment_id: Uuid,
) -> Result<Option<StoredCertificate>, sqlx::Error> {
    sqlx::query_as!(
        StoredCertificate,
        r#"select certificate_id, enrollment_id, course_id, account_id, issued_at, record, signature, key_id,
                  revoked_at
           from certificate where enrollment_id = $1"#,
        enrollment_id
    )
    .fetch_optional(executor)
    .await
}

/// An account's certificates, newest first.
pub async fn list_for_account<'e>(
    executor: impl PgExecutor<'e>,
    account_id: Uuid,
) -> Result<Vec<StoredCertificate>, sqlx::Error> {
    sqlx::query_as!(
        StoredCertificate,
        r#"select certificate_id, enrollment_id, course_id, account_id, issued_at, record, signature, key_id,
                  revoked_at
           from certificate where account_id = $1
           order by issued_at desc, certificate_id"#,
        account_id
    )
    .fetch_all(executor)
    .await
}

/// The name the account wants on its certificates, if it set one.
pub async fn certificate_name<'e>(
    executor: impl PgExecutor<'e>,
    account_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("select name from certificate_name where account_id = $1", account_id)
        .fetch_optional(executor)
        .await
}

/// Sets (or, with `None`, forgets) the name on the account's future certificates.
pub async fn set_certificate_name<'e>(
    executor: impl PgExecutor<'e>,
    account_id: Uuid,
    name: Option<&str>,
) -> Result<(), sqlx::Error> {
    match name {
        Some(name) => {
            sqlx::query!(
                "insert into certificate_name (account_id, name) values ($1, $2)
                 on conflict (account_id) do update set name = excluded.name",
                account_id,
                name
            )
            .execute(executor)
            .await?;
        }
        None => {
            sqlx::query!("delete from certificate_name where account_id = $1", account_id).execute(executor).await?;
        }
    }
    Ok(())
}

/// A name for certificates: trimmed, 1 to 200 characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, CertificateError> {
    let name = raw.trim();
    let length = name.chars().count();
    if length == 0 || length > 200 {
        return Err(CertificateError::InvalidName("the name must be 1 to 200 characters".to_owned()));
    }
    if name.chars().any(char::is_control) {
        return Err(CertificateError::InvalidName("the name must not contain control characters".to_owned()));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(parse_name("  Анна Петрова ").expect("valid"), "Анна Петрова");
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"я".repeat(201)).is_err());
        assert_eq!(parse_name(&"я".repeat(200)).expect("200 characters").chars().count(), 200);
        assert!(parse_name("Anna\nPetrova").is_err());
    }
}
