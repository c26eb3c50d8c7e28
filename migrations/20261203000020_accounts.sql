-- Accounts for people (issue 21): the language messages are written in, single-use links sent
-- by mail (email verification, password reset), and a session end reason for resets.

-- The language of the account's mail, taken from the registering request's Accept-Language.
alter table account
    add column locale text not null default 'en' check (locale in ('en', 'ru'));

-- A link sent by mail (or, for `two_factor`, the challenge a sign-in answers when the account
-- has two-factor sign-in, answered with a code at `POST /v1/auth/login/two-factor`). Only the SHA-256 of its random token is stored, like refresh tokens, so
-- a copy of the database cannot be used to verify an address or take over an account. A token
-- is spent by the one guarded `update … where used_at is null and expires_at > now()` that
-- uses it, so it works once even under concurrent clicks.
--
-- `email` is the address a `verify_email` token confirms: the account's own at registration,
-- or the new one of an email change (the account keeps its old address until the link is
-- followed, so a typo cannot lock anyone out). A reset has none.
create table account_token
(
    account_token_id uuid primary key     default gen_random_uuid(),
    account_id       uuid        not null references account (account_id) on delete cascade,
    purpose          text        not null check (purpose in ('verify_email', 'reset_password', 'two_factor')),
    token_hash       bytea       not null unique check (length(token_hash) = 32),
    email            text check (email = lower(btrim(email)) and email like '%_@_%'),
    created_at       timestamptz not null default now(),
    expires_at       timestamptz not null,
    used_at          timestamptz,
    check ((purpose = 'verify_email') = (email is not null)),
    check (expires_at > created_at)
);

-- A new link of the same purpose supersedes the account's earlier ones (see
-- `auth::account_tokens::issue_in`), which finds them through this index.
create index account_token_account on account_token (account_id, purpose) where used_at is null;

-- A password reset signs out every device of the account.
alter table auth_session drop constraint auth_session_revoked_reason_check;
alter table auth_session add constraint auth_session_revoked_reason_check
    check (revoked_reason in ('logout', 'signed_out', 'refresh_token_reuse', 'admin', 'password_reset'));

-- Two-factor sign-in (TOTP, RFC 6238). The secret is stored as it is, like a password manager's
-- entry: TOTP verification needs it, so it cannot be hashed; a copy of the database yields
-- second factors but no first ones (passwords are argon2id). `confirmed_at` is null while the
-- enrolment waits for its first code. `last_step` is the time step of the last accepted code:
-- only a later step is accepted, so no code works twice.
create table account_totp
(
    account_id   uuid primary key references account (account_id) on delete cascade,
    secret       bytea       not null check (length(secret) = 20),
    created_at   timestamptz not null default now(),
    confirmed_at timestamptz,
    last_step    bigint check (last_step >= 0)
);

-- Single-use recovery codes, as SHA-256 of their normal form (50 random bits each: a fast hash
-- is enough). Replaced as a set when two-factor sign-in is confirmed again.
create table totp_recovery_code
(
    recovery_code_id uuid primary key     default gen_random_uuid(),
    account_id       uuid        not null references account (account_id) on delete cascade,
    code_hash        bytea       not null check (length(code_hash) = 32),
    used_at          timestamptz,
    unique (account_id, code_hash)
);

-- Which notification mails a person wants. A missing row means the default: on. The kinds are
-- the notifications Lectern knows; `new_sign_in` is sent today, the others once their events
-- send mail (see README: Notifications).
create table notification_preference
(
    account_id uuid    not null references account (account_id) on delete cascade,
    kind       text    not null check (kind in ('new_sign_in', 'lecture_ready', 'enrolment', 'purchase_receipt',
                                                'certificate_issued', 'refund')),
    enabled    boolean not null,
    primary key (account_id, kind)
);
