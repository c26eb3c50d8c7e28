//! Password policy and argon2id hashing. Hashing is deliberately slow and memory-hungry, so it
//! runs on tokio's blocking pool, never on the threads that serve requests.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use super::{AuthError, Email};
use crate::auth::{PASSWORD_MAX_LENGTH, PasswordSettings};

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    min_length: usize,
    /// A hash of a random password with the configured parameters. Sign-ins for unknown emails
    /// are verified against it, so they take as long as sign-ins for real ones and the response
    /// time does not tell whether an account exists.
    decoy_hash: String,
}

impl Passwords {
    pub async fn new(settings: PasswordSettings) -> Result<Self, AuthError> {
        let argon = settings.argon2;
        let params = Params::new(argon.memory_kib, argon.iterations, argon.parallelism, None)
            .map_err(|e| AuthError::Hashing(format!("invalid argon2 parameters ({e})")))?;
        let mut decoy = [0u8; 32];
        getrandom::fill(&mut decoy).map_err(|e| AuthError::Hashing(format!("no system randomness ({e})")))?;
        let mut passwords = Self { params, min_length: settings.min_length, decoy_hash: String::new() };
        passwords.decoy_hash = passwords.hash(hex::encode(decoy)).await?;
        Ok(passwords)
    }

    /// Refuses passwords that are too short, absurdly long, or the email itself.
    pub fn check_policy(&self, password: &str, email: &Email) -> Result<(), AuthError> {
        let length = password.chars().count();
        if length < self.min_length {
            return Err(AuthError::WeakPassword(format!(
                "the password must be at least {} characters long",
                self.min_length
            )));
        }
        if length > PASSWORD_MAX_LENGTH {
            return Err(AuthError::WeakPassword(format!(
                "the password must be at most {PASSWORD_MAX_LENGTH} characters long"
            )));
        }
        let lowered = password.to_lowercase();
        if lowered == email.as_str() || lowered == email.local_part() {
            return Err(AuthError::WeakPassword("the password must not be your email address".to_owned()));
        }
        Ok(())
    }

    /// An argon2id PHC string (`$argon2id$v=19$m=…`) with a fresh 16-byte salt.
    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        let params = self.params.clone();
        run_blocking(move || {
            let mut salt = [0u8; 16];
            getrandom::fill(&mut salt).map_err(|e| AuthError::Hashing(format!("no system randomness ({e})")))?;
            let hash = argon2(params)
                .hash_password_with_salt(password.as_bytes(), &salt)
                .map_err(|e| AuthError::Hashing(e.to_string()))?;
            Ok(hash.to_string())
        })
        .await
    }

    /// Whether `password` matches `hash`. Without a hash (unknown email, or an account that has
    /// no password) the decoy is verified instead and the answer is always false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AuthError> {
        let params = self.params.clone();
        let (hash, real) = match hash {
            Some(hash) => (hash, true),
            None => (self.decoy_hash.clone(), false),
        };
        run_blocking(move || {
            // The parameters inside the PHC string win, so old hashes keep verifying after the
            // configured cost changes.
            let matches = argon2(params).verify_password(password.as_bytes(), hash.as_str()).is_ok();
            Ok(real && matches)
        })
        .await
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| AuthError::Hashing(format!("the hashing task failed ({e})")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Argon2Settings;

    async fn cheap() -> Passwords {
        let argon2 = Argon2Settings { memory_kib: 64, iterations: 1, parallelism: 1 };
        Passwords::new(PasswordSettings { argon2, min_length: 10 }).await.expect("valid parameters")
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let passwords = cheap().await;
        let hash = passwords.hash("correct horse battery".to_owned()).await.expect("hashed");
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(passwords.verify("correct horse battery".to_owned(), Some(hash.clone())).await.expect("ran"));
        assert!(!passwords.verify("wrong horse battery".to_owned(), Some(hash)).await.expect("ran"));
        assert!(!passwords.verify("anything".to_owned(), None).await.expect("ran"));
    }

    #[tokio::test]
    async fn the_policy_refuses_short_passwords_and_the_email_itself() {
        let passwords = cheap().await;
        let email = Email::parse("Margaret.Hamilton@example.com").expect("valid");
        assert!(passwords.check_policy("short", &email).is_err());
        assert!(passwords.check_policy("MARGARET.HAMILTON", &email).is_err());
        assert!(passwords.check_policy("margaret.hamilton@example.com", &email).is_err());
        assert!(passwords.check_policy(&"x".repeat(PASSWORD_MAX_LENGTH + 1), &email).is_err());
        assert!(passwords.check_policy("apollo guidance computer", &email).is_ok());
    }
}
