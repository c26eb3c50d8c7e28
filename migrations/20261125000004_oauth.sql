-- Sign-in through external identity providers (OpenID Connect: Google, Apple, a generic issuer;
-- plain OAuth 2.0: Yandex, VK ID).

-- An external identity (the provider's stable subject id) that signs in one account. Unique per
-- provider and subject, so one Google account can never sign in two Lectern accounts. The email
-- the provider showed last time is kept for the owner's list only; it proves nothing by itself.
create table account_identity
(
    identity_id  uuid primary key     default gen_random_uuid(),
    account_id   uuid        not null references account (account_id) on delete cascade,
    provider     text        not null check (provider in ('google', 'apple', 'yandex', 'vk', 'oidc')),
    subject      text        not null check (length(subject) between 1 and 255),
    email        text,
    created_at   timestamptz not null default now(),
    last_used_at timestamptz not null default now(),
    unique (provider, subject)
);

create index account_identity_account on account_identity (account_id, created_at);

-- One authorization-code flow in progress, between `start` and the provider's callback. The
-- state travels through the browser, so only its SHA-256 is stored (a copy of the table cannot
-- complete anyone's flow); the PKCE verifier and the nonce never leave the server and are stored
-- as they are. A row is consumed by one `delete … returning`, so a state works exactly once.
create table oauth_flow
(
    oauth_flow_id   uuid primary key     default gen_random_uuid(),
    state_hash      bytea       not null unique check (length(state_hash) = 32),
    provider        text        not null check (provider in ('google', 'apple', 'yandex', 'vk', 'oidc')),
    pkce_verifier   text        not null check (length(pkce_verifier) between 43 and 128),
    -- OpenID Connect providers only: the value the ID token must repeat.
    nonce           text,
    -- Where the app wants the browser back (already checked against the allow-list).
    return_to       text,
    -- Set when a signed-in person links another way in; the callback then links, never signs in.
    link_account_id uuid references account (account_id) on delete cascade,
    created_at      timestamptz not null default now(),
    expires_at      timestamptz not null
);

create index oauth_flow_expires on oauth_flow (expires_at);

-- A short-lived, single-use code that the callback hands to the app (in the redirect to
-- `return_to`) instead of tokens, which never appear in URLs. Only its SHA-256 is stored; it is
-- spent by one `delete … returning`.
create table oauth_login_code
(
    code_hash  bytea primary key check (length(code_hash) = 32),
    account_id uuid        not null references account (account_id) on delete cascade,
    provider   text        not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);

create index oauth_login_code_expires on oauth_login_code (expires_at);
