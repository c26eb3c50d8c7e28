-- Webhooks: endpoints an account registers, one delivery per (endpoint, event), and every
-- attempt to send it. Fan-out reads the `asset_event` outbox, so an event committed with its
-- state change is delivered even if the process dies right after the commit.

-- The outbox learns two things. `asset_snapshot` is the asset as `GET /v1/assets/{id}` showed it
-- in the transaction that recorded the event (a receiver sees the asset at event time, not
-- whatever it became by the time the send happened). `dispatched_at` is null while the event
-- still has to be fanned out to endpoints; events nobody subscribed to are recorded already
-- dispatched, so the pending set stays small.
alter table asset_event
    add column asset_snapshot jsonb,
    add column dispatched_at  timestamptz;

-- Events recorded before webhooks existed have nobody to go to.
update asset_event set dispatched_at = created_at;

create index asset_event_undispatched on asset_event (event_id) where dispatched_at is null;

-- API keys may now carry `webhooks:read`.
alter table api_key drop constraint api_key_scopes_check;
alter table api_key add constraint api_key_scopes_check
    check (cardinality(scopes) > 0 and
           scopes <@ array ['assets:read', 'assets:write', 'playback:create', 'webhooks:read',
                            'webhooks:write']::text[]);

-- Where an account wants to hear about its assets.
create table webhook_endpoint
(
    webhook_endpoint_id uuid primary key     default gen_random_uuid(),
    owner_id            uuid        not null references account (account_id) on delete cascade,
    -- Vetted at creation (http(s), no credentials, a host that resolves to public addresses
    -- only, unless the operator's allow-list says otherwise) and again at every send.
    url                 text        not null check (length(url) between 1 and 2048),
    -- The HMAC key of the `Lectern-Signature` header. Kept in clear because every send needs it;
    -- shown to the owner only in the creating response.
    secret              text        not null check (secret like 'whsec\_%'),
    -- Event types delivered; empty means every documented type.
    events              text[]      not null default '{}'
        check (events <@ array ['asset.created', 'asset.uploaded', 'asset.playable', 'asset.ready',
                                'asset.errored', 'asset.deleted']::text[]),
    description         text check (length(description) <= 200),
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);

select trigger_updated_at('webhook_endpoint');

create index webhook_endpoint_owner on webhook_endpoint (owner_id, created_at);

-- One event on its way to one endpoint. Deleting the endpoint deletes its deliveries, which
-- stops the pending ones (their queued send jobs find nothing and end).
create table webhook_delivery
(
    webhook_delivery_id uuid primary key     default gen_random_uuid(),
    webhook_endpoint_id uuid        not null references webhook_endpoint (webhook_endpoint_id) on delete cascade,
    event_id            uuid        not null references asset_event (event_id) on delete cascade,
    -- `pending` until a send is answered 2xx (`succeeded`) or the retry window has passed
    -- (`failed`). A manual retry puts it back to `pending` for one more send.
    state               text        not null default 'pending'
        check (state in ('pending', 'succeeded', 'failed')),
    -- Sends made so far (automatic and manual).
    attempts            integer     not null default 0 check (attempts >= 0),
    -- Bumped whenever a send is scheduled; the `webhooks.deliver` job carries the value it was
    -- scheduled with and does nothing when it no longer matches, so a manual retry and the
    -- automatic schedule never both send for the same turn.
    schedule            integer     not null default 0 check (schedule >= 0),
    -- The retry window (24 h by default) runs from here.
    first_attempt_at    timestamptz,
    next_attempt_at     timestamptz,
    last_attempt_at     timestamptz,
    last_status_code    integer,
    last_error          text,
    delivered_at        timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    -- Fan-out can run twice for an event (a retried dispatch); it never makes a second delivery.
    unique (webhook_endpoint_id, event_id),
    check ((state = 'succeeded') = (delivered_at is not null))
);

select trigger_updated_at('webhook_delivery');

-- The deliveries listing: one endpoint's, newest first.
create index webhook_delivery_listing on webhook_delivery (webhook_endpoint_id, created_at desc, webhook_delivery_id desc);
-- The sweep that re-enqueues sends whose job was lost.
create index webhook_delivery_pending on webhook_delivery (next_attempt_at) where state = 'pending';

-- Every send, for the owner's troubleshooting.
create table webhook_attempt
(
    -- UUIDv7: ordered by time.
    webhook_attempt_id  uuid primary key,
    webhook_delivery_id uuid        not null references webhook_delivery (webhook_delivery_id) on delete cascade,
    started_at          timestamptz not null,
    duration_ms         integer     not null check (duration_ms >= 0),
    -- The receiver's HTTP status, or null when there was no answer (refused, timeout, network).
    status_code         integer,
    -- Why the send did not count (a non-2xx status, a timeout, a refused address, …).
    error               text,
    -- The start of the receiver's answer, for troubleshooting (at most 1 KiB).
    response_excerpt    text,
    -- Asked for through `POST /v1/webhooks/deliveries/{id}/retry`.
    manual              boolean     not null default false
);

create index webhook_attempt_delivery on webhook_attempt (webhook_delivery_id, webhook_attempt_id);
