-- Identity: accounts, signed-in sessions and the refresh tokens that keep them alive.

-- A person who can sign in. Emails are stored normalised (trimmed, lower-cased) by the
-- application's `Email::parse`; the CHECK makes sure nothing else slips in, so the plain unique
-- constraint is also case-insensitive uniqueness without needing the citext extension.
create table account
(
    account_id     uuid primary key     default gen_random_uuid(),
    email          text        not null unique check (email = lower(btrim(email)) and email like '%_@_%'),
    email_verified boolean     not null default false,
    -- An argon2id PHC string. Null for accounts that will only sign in through an OAuth
    -- provider; such accounts can never pass a password check.
    password_hash  text,
    -- Roles are a small closed set that every request reads with the account, so an array on
    -- the row is cheaper than a join table; the CHECK keeps it to the known roles.
    roles          text[]      not null default '{learner}'
        check (cardinality(roles) > 0 and roles <@ array ['learner', 'instructor', 'admin']::text[]),
    -- Failed sign-ins since the last success, and the exponential lock they caused. The lock
    -- expires by itself, so an attacker can slow a victim down but never lock them out for good.
    -- Failures are forgotten a day after the last one, so an old burst does not turn a typo
    -- months later into a long lock.
    failed_logins  integer     not null default 0 check (failed_logins >= 0),
    last_failed_login_at timestamptz,
    locked_until   timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);

select trigger_updated_at('account');

-- One signed-in device. The session is the refresh-token family: revoking it ends every token
-- ever issued to that device, and access tokens carry its id (`sid`) so every request can see
-- the revocation at once with a primary-key lookup.
create table auth_session
(
    session_id          uuid primary key     default gen_random_uuid(),
    account_id          uuid        not null references account (account_id) on delete cascade,
    -- Shown in the list of signed-in devices; only ever displayed, so `ip` is text rather than
    -- inet (which would need another sqlx feature for no gain).
    user_agent          text,
    ip                  text,
    created_at          timestamptz not null default now(),
    last_used_at        timestamptz not null default now(),
    -- Pushed forward on every refresh, never past the absolute limit.
    idle_expires_at     timestamptz not null,
    absolute_expires_at timestamptz not null,
    revoked_at          timestamptz,
    revoked_reason      text check (revoked_reason in ('logout', 'signed_out', 'refresh_token_reuse', 'admin')),
    check ((revoked_at is null) = (revoked_reason is null)),
    check (idle_expires_at <= absolute_expires_at)
);

create index auth_session_account on auth_session (account_id, created_at desc);

-- Refresh tokens are opaque random strings; only their SHA-256 is stored, so a copy of the
-- database cannot be replayed. A token is used once: rotation marks it used and points at its
-- successor, and presenting a used token again is treated as theft of the family.
create table refresh_token
(
    refresh_token_id uuid primary key     default gen_random_uuid(),
    session_id       uuid        not null references auth_session (session_id) on delete cascade,
    token_hash       bytea       not null unique check (length(token_hash) = 32),
    issued_at        timestamptz not null default now(),
    used_at          timestamptz,
    replaced_by      uuid references refresh_token (refresh_token_id) on delete set null
);

create index refresh_token_session on refresh_token (session_id);
