-- Webhooks for events that are not about an asset: training's enrolments, lesson completions and
-- certificates, heard by the course owner's endpoints. They go through the same outbox as asset
-- events, so they get the same guarantees for free: recorded in the transaction of the change,
-- fanned out by the same `webhooks.dispatch` job and sweep, one delivery per endpoint, and
-- `webhook_delivery.event_id` keeps a single foreign key. The table keeps its name (renaming it
-- would touch every query of media and webhooks for no change in behaviour); read `asset_event`
-- as "the event outbox".

-- An event is about an asset (`asset_id`; its owner's endpoints hear it, as before) or about
-- an account's business (`owner_id`: the account whose endpoints hear it). An asset event leaves
-- `owner_id` null: its owner is the asset's, read through the asset as fan-out always did, so
-- media records asset events exactly as before. Deleting the account deletes its events (and
-- with them their deliveries), as deleting an asset does for asset events.
alter table asset_event
    alter column asset_id drop not null,
    add column owner_id uuid references account (account_id) on delete cascade,
    add constraint asset_event_subject_check check (asset_id is not null or owner_id is not null);

-- What a receiver gets as `data` for an event that is not about an asset, e.g.
-- `{"enrollment": {…}}`, stored as the caller gave it. A new column rather than `payload`:
-- `payload` is the event's internal record (media writes details there that have never been
-- sent to anyone, and it is `not null default '{}'`, so "nothing to send" and "send {}" would
-- look alike), while what leaves Lectern is exactly `asset_snapshot` (asset events) or `data`
-- (the others). Keeping them apart means nobody adds to `payload` and leaks it by accident.
-- `data` is stored even when no endpoint wants the event (unlike the snapshot, it costs nothing
-- to keep and is the event's only content), so every non-asset event has it and no asset event
-- does.
alter table asset_event
    add column data jsonb,
    add constraint asset_event_data_check check ((asset_id is null) = (data is not null));

-- The new families of types. An `asset.*` event is always about an asset and the others never
-- are: a send builds `data` from the snapshot or from `data` by whether `asset_id` is set, so a
-- type of one family on a row of the other would reach receivers in the wrong shape.
alter table asset_event drop constraint asset_event_type_check;
alter table asset_event
    add constraint asset_event_type_check check (type ~ '^(asset|enrollment|lesson|certificate)\.[a-z_]+$'),
    add constraint asset_event_kind_check check ((asset_id is not null) = (type ~ '^asset\.'));

-- Deleting an account finds its events through this (the cascade); asset events, whose
-- `owner_id` is null, stay out of it.
create index asset_event_owner on asset_event (owner_id, event_id) where owner_id is not null;

-- Endpoints may ask for the new types (empty still means every documented type, these included).
alter table webhook_endpoint drop constraint webhook_endpoint_events_check;
alter table webhook_endpoint add constraint webhook_endpoint_events_check
    check (events <@ array ['asset.created', 'asset.uploaded', 'asset.playable', 'asset.ready',
                            'asset.errored', 'asset.deleted',
                            'enrollment.created', 'enrollment.suspended', 'enrollment.revoked',
                            'lesson.completed', 'enrollment.completed', 'certificate.issued']::text[]);
