-- Media ingest: assets (an instructor's video and what became of it), uploads in progress
-- (tus now, direct-to-S3 multipart next), and the per-asset event outbox.

-- One row per video an instructor creates. The bytes live in object storage
-- (`assets/{asset_id}/…`); this row says where they are and how far processing got.
create table asset
(
    asset_id                uuid primary key     default gen_random_uuid(),
    owner_id                uuid        not null references account (account_id) on delete cascade,
    title                   text        not null check (length(btrim(title)) between 1 and 200),
    description             text check (length(description) <= 5000),
    -- Opaque to Lectern: the caller's own reference (a lesson id), echoed back in events.
    passthrough             text check (length(passthrough) <= 255),
    -- The lifecycle. Every change is one update guarded by the expected previous status, written
    -- in the same transaction as its `asset_event`, so the outbox never disagrees with the row.
    status                  text        not null default 'waiting_upload'
        check (status in ('waiting_upload', 'uploaded', 'probing', 'processing', 'ready', 'errored')),
    -- What the probe learned (container, duration, streams); written by the probe job.
    source                  jsonb,
    -- The original as stored, set when the upload completes. The SHA-256 is hex, computed while
    -- the bytes streamed in, so nobody has to read a 20 GiB file again to fingerprint it.
    source_key              text,
    source_size             bigint check (source_size >= 0),
    source_sha256           text check (source_sha256 ~ '^[0-9a-f]{64}$'),
    -- A URL to pull the original from instead of an upload (URL import).
    input_url               text,
    -- Set together when the asset is `errored`: a stable snake_case code and a sentence.
    error_code              text,
    error_message           text,
    -- `Idempotency-Key` of the creating request and a hash of its body: a retry with the same
    -- key and body finds this row; the same key with another body is refused.
    idempotency_key         text check (length(idempotency_key) between 1 and 255),
    idempotency_fingerprint text,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    -- A deleted asset keeps its row (a tombstone) so a second DELETE by its owner still answers
    -- 204 and the outbox keeps its history; every read filters it out.
    deleted_at              timestamptz,
    check ((status = 'errored') = (error_code is not null)),
    check ((idempotency_key is null) = (idempotency_fingerprint is null)),
    unique (owner_id, idempotency_key)
);

select trigger_updated_at('asset');

-- The listing query: one owner's live assets, newest first, optionally by status; the id breaks
-- ties between assets created in the same microsecond (the cursor is (created_at, asset_id)).
create index asset_owner_listing on asset (owner_id, created_at desc, asset_id desc) where deleted_at is null;
create index asset_owner_status_listing on asset (owner_id, status, created_at desc, asset_id desc)
    where deleted_at is null;

-- Bytes on their way in. A tus upload streams into a storage multipart upload that becomes the
-- asset's source object on completion; the part of the stream smaller than a storage part waits
-- in a small object (`uploads/{upload_id}/tail`) so any replica can take the next PATCH.
create table upload
(
    -- Unguessable (random v4): knowing it is part of the right to write to the upload.
    upload_id         uuid primary key     default gen_random_uuid(),
    asset_id          uuid        not null references asset (asset_id) on delete cascade,
    protocol          text        not null check (protocol in ('tus', 'multipart')),
    -- Total size; null while the client defers it (tus creation-defer-length).
    length            bigint check (length >= 0),
    -- Bytes received and durably stored (parts plus tail), i.e. tus `Upload-Offset`.
    upload_offset     bigint      not null default 0 check (upload_offset >= 0),
    -- The storage backend's multipart upload id.
    storage_upload_id text,
    -- Uploaded parts in order: [{"part_number", "etag", "size"}].
    parts             jsonb       not null default '[]',
    -- Bytes after the last part, waiting in the tail object (0 when there is none).
    tail_size         bigint      not null default 0 check (tail_size >= 0),
    -- The running SHA-256 of bytes 0..upload_offset, serialised, so the next PATCH (on any
    -- replica) carries on hashing instead of reading everything back at the end.
    hash_state        bytea,
    -- The client's tus `Upload-Metadata` (decoded): filename, filetype, …
    metadata          jsonb       not null default '{}',
    expires_at        timestamptz not null,
    completed_at      timestamptz,
    -- A PATCH writes only while it holds this lease (and `locked_by` names its holder), so two
    -- concurrent PATCHes of one upload cannot interleave their bytes. An expired lease is free,
    -- so a crashed replica blocks an upload for one lease at most.
    locked_until      timestamptz,
    locked_by         uuid,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    check (length is null or upload_offset <= length),
    check ((locked_until is null) = (locked_by is null))
);

select trigger_updated_at('upload');

-- At most one unfinished upload per asset: a second client cannot start writing over the first.
create unique index upload_one_open_per_asset on upload (asset_id) where completed_at is null;
-- Housekeeping finds abandoned uploads by expiry.
create index upload_open_expiry on upload (expires_at) where completed_at is null;

-- The durable outbox of what happened to assets (`asset.created`, `asset.uploaded`,
-- `asset.errored`, …). Written in the same transaction as the change it reports; webhooks are
-- delivered from here later, so an event is never lost between a commit and a send.
create table asset_event
(
    -- UUIDv7 (made by Lectern): ordered by time, so `order by event_id` is delivery order.
    event_id   uuid primary key,
    asset_id   uuid        not null references asset (asset_id) on delete cascade,
    type       text        not null check (type ~ '^asset\.[a-z_]+$'),
    payload    jsonb       not null default '{}',
    created_at timestamptz not null default now()
);

create index asset_event_asset on asset_event (asset_id, event_id);
