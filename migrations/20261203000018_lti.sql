-- LTI 1.3: Lectern as a tool that LMS platforms (Moodle, Canvas, Open edX) launch.

-- A platform an administrator registered: its issuer and the client id it gave Lectern, the
-- deployments it may launch from, and its three URLs. Canvas uses one issuer for every school,
-- so the pair (issuer, client id) identifies a registration, not the issuer alone.
create table lti_platform
(
    platform_id    uuid primary key     default gen_random_uuid(),
    name           text        not null check (length(name) between 1 and 200),
    issuer         text        not null check (length(issuer) between 1 and 2000),
    client_id      text        not null check (length(client_id) between 1 and 255),
    -- A launch from a deployment not listed here is refused (`lti_deployment_unknown`).
    deployment_ids text[]      not null check (cardinality(deployment_ids) between 1 and 100),
    -- OIDC authorization endpoint (where login initiation sends the browser).
    auth_login_url text        not null,
    -- OAuth 2 token endpoint (client_credentials with a JWT assertion, for grade passback).
    auth_token_url text        not null,
    -- The platform's public keys; cached in memory by the server (an unknown `kid` refetches).
    jwks_url       text        not null,
    created_by     uuid        references account (account_id) on delete set null,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    unique (issuer, client_id)
);

select trigger_updated_at('lti_platform');

-- One OIDC login in progress, between `/lti/login` and `/lti/launch`. Kept on the server, not in
-- a cookie: inside the LMS's iframe browsers drop third-party cookies, and a state kept there is
-- the most reported LTI failure. Only the SHA-256 of the state is stored; the row is consumed by
-- one `delete … returning`, so a state works once.
create table lti_login_state
(
    state_hash      bytea primary key check (length(state_hash) = 32),
    platform_id     uuid        not null references lti_platform (platform_id) on delete cascade,
    nonce           text        not null check (length(nonce) between 16 and 128),
    target_link_uri text        not null,
    created_at      timestamptz not null default now(),
    expires_at      timestamptz not null
);

create index lti_login_state_expiry on lti_login_state (expires_at);

-- Nonces of accepted id_tokens, until the token itself expires: the same token cannot be
-- launched twice, even with a new state.
create table lti_used_nonce
(
    platform_id uuid        not null references lti_platform (platform_id) on delete cascade,
    nonce       text        not null,
    expires_at  timestamptz not null,
    primary key (platform_id, nonce)
);

create index lti_used_nonce_expiry on lti_used_nonce (expires_at);

-- A platform user (its `sub`) who signs in one Lectern account. Linked by platform and subject
-- only: an email from the platform is kept for display and never used to find an account.
create table lti_identity
(
    platform_id    uuid        not null references lti_platform (platform_id) on delete cascade,
    subject        text        not null check (length(subject) between 1 and 255),
    account_id     uuid        not null references account (account_id) on delete cascade,
    name           text,
    email          text,
    created_at     timestamptz not null default now(),
    last_launch_at timestamptz not null default now(),
    primary key (platform_id, subject)
);

create index lti_identity_account on lti_identity (account_id);

-- A deep-linking request waiting for the instructor's pick: where to return the content item
-- and the platform's opaque `data`, which must come back unchanged. The token in the picker's
-- form is random; only its SHA-256 is stored, and the row is consumed once.
create table lti_deep_link
(
    token_hash    bytea primary key check (length(token_hash) = 32),
    platform_id   uuid        not null references lti_platform (platform_id) on delete cascade,
    deployment_id text        not null,
    return_url    text        not null,
    data          text,
    account_id    uuid        not null references account (account_id) on delete cascade,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null
);

-- Assignment and Grade Services: one gradebook cell to keep up to date — a platform user's
-- score on a resource link, derived from their progress in the linked course or lesson. Written
-- by the launch when the platform offers the score scope; `lti.send_score` jobs post the score
-- and record what the platform last accepted, so an unchanged score is not sent again.
create table lti_grade_link
(
    grade_link_id    uuid primary key     default gen_random_uuid(),
    platform_id      uuid        not null references lti_platform (platform_id) on delete cascade,
    account_id       uuid        not null references account (account_id) on delete cascade,
    -- The platform's user id (the launch's `sub`): the score's `userId`.
    subject          text        not null,
    resource_link_id text        not null,
    course_id        uuid        not null references course (course_id) on delete cascade,
    lesson_id        uuid references lesson (lesson_id) on delete cascade,
    label            text        not null,
    -- The context's line-item container, and the line item once known (from the launch's claim,
    -- found by resource link, or created).
    lineitems_url    text,
    lineitem_url     text,
    scopes           text[]      not null,
    -- What the platform last accepted: score (0–100) and whether it was final.
    sent_score       double precision,
    sent_final       boolean,
    sent_at          timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    unique (platform_id, resource_link_id, subject),
    check (lineitems_url is not null or lineitem_url is not null)
);

select trigger_updated_at('lti_grade_link');

create index lti_grade_link_account on lti_grade_link (account_id, course_id);
