-- API keys: long-lived credentials that let an application (a course site's backend, a script)
-- call Lectern on behalf of the instructor or administrator who made them.

-- The secret (`lk_` + 256 random bits) is shown once at creation and stored only as its SHA-256:
-- a fast hash is enough because there is nothing to brute-force in 256 bits, and it lets every
-- request find its key with one unique-index lookup. `prefix` (the first characters of the
-- secret) is kept in clear only so owners can tell their keys apart in a list.
create table api_key
(
    api_key_id   uuid primary key     default gen_random_uuid(),
    -- The owner: the key acts with the owner's identity and never beyond the owner's roles.
    account_id   uuid        not null references account (account_id) on delete cascade,
    name         text        not null check (length(btrim(name)) between 1 and 100),
    prefix       text        not null check (prefix like 'lk\_%'),
    secret_hash  bytea       not null unique check (length(secret_hash) = 32),
    -- Like roles, a small closed set read with every request, so an array with a CHECK.
    scopes       text[]      not null
        check (cardinality(scopes) > 0 and
               scopes <@ array ['assets:read', 'assets:write', 'playback:create', 'webhooks:write']::text[]),
    created_at   timestamptz not null default now(),
    -- Refreshed at most once a minute, so using a key does not cost a write per request.
    last_used_at timestamptz,
    -- Revoked keys are kept (not deleted) so the owner's list can still show what was revoked.
    revoked_at   timestamptz
);

create index api_key_account on api_key (account_id, created_at desc);
