//! `lectern users create-admin`: the way the first administrator comes to exist.

use std::io::BufRead;

use anyhow::Context;

use crate::auth::{Email, accounts, passwords::Passwords};
use crate::config::CreateAdminArgs;

/// Reads the password from the first line of standard input, applies the password policy,
/// migrates the database if needed, then creates the account as `learner` + `admin`, or grants
/// `admin` to the existing account with that email (whose password is left unchanged).
pub async fn create_admin(args: &CreateAdminArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.common.log_format, &args.common.log_filter);
    let database = args.database.resolve()?;
    let password_settings = args.passwords.resolve()?;
    let email = Email::parse(&args.email).map_err(|error| anyhow::anyhow!("--email: {error}"))?;

    let password = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .context("cannot read standard input")?
    .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        anyhow::bail!(
            "no password on standard input (pipe it in: `echo \"$PASSWORD\" | lectern users create-admin …`)"
        );
    }

    let passwords = Passwords::new(password_settings).await.context("cannot set up password hashing")?;
    passwords.check_policy(&password, &email).map_err(|error| anyhow::anyhow!("{}: {error}", error.error_code()))?;
    let hash = passwords.hash(password).await.context("cannot hash the password")?;

    let pool = crate::db::connect(&database).await?;
    crate::db::migrate(&pool).await?;
    let (account_id, created) =
        accounts::create_or_grant_admin(&pool, &email, &hash).await.context("cannot save the account")?;
    if created {
        eprintln!("created administrator {email} (account {account_id})");
    } else {
        eprintln!("granted admin to the existing account {email} (account {account_id}); its password is unchanged");
    }
    Ok(())
}
