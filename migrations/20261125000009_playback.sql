-- Playback: who may watch an asset besides its owner (grants), where it may be embedded and
-- whether its signatures are tied to the viewer's address (restrictions), and the revocable,
-- short-lived sessions through which a learner's player reaches the package.

-- Restrictions an owner sets on an asset. An empty `allowed_origins` means any page may embed
-- the player; otherwise the `Origin` (or `Referer`) of a session request must be one of these
-- exact origins (`https://school.example`). `bind_ip` puts the requesting client's address into
-- the session's CDN policy (`IpAddress`), so the signed URLs work only from that address.
alter table asset
    add column allowed_origins text[]  not null default '{}'
        check (cardinality(allowed_origins) <= 50),
    add column bind_ip         boolean not null default false;

-- The right of one account to watch one private asset, given by the owner or an administrator.
-- Revoked grants are kept (with `revoked_at`) as a record; at most one grant per asset and
-- account is active at a time, so granting twice finds the existing one.
create table asset_grant
(
    asset_grant_id uuid primary key     default gen_random_uuid(),
    asset_id       uuid        not null references asset (asset_id) on delete cascade,
    account_id     uuid        not null references account (account_id) on delete cascade,
    granted_by     uuid        references account (account_id) on delete set null,
    created_at     timestamptz not null default now(),
    revoked_at     timestamptz
);

create unique index asset_grant_one_active on asset_grant (asset_id, account_id) where revoked_at is null;
create index asset_grant_account on asset_grant (account_id) where revoked_at is null;

-- One viewing: a player's manifests are served under /play/{session_id}/… while the session is
-- neither expired nor revoked and its account may still watch the asset. The id is 122 random
-- bits (`gen_random_uuid`), the only credential a player holds, so it must never be derived
-- from anything else. `client_ip` is set only when the asset binds sessions to an address.
create table playback_session
(
    session_id  uuid primary key     default gen_random_uuid(),
    asset_id    uuid        not null references asset (asset_id) on delete cascade,
    version     integer     not null check (version > 0),
    -- The viewer: the learner themselves, or the learner an API key acted for.
    account_id  uuid        not null references account (account_id) on delete cascade,
    api_key_id  uuid        references api_key (api_key_id) on delete set null,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    revoked_at  timestamptz,
    client_ip   text,
    check (expires_at > created_at)
);

create index playback_session_viewer on playback_session (asset_id, account_id) where revoked_at is null;
