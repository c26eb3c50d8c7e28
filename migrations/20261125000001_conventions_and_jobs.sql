-- Schema conventions for every Lectern table, set once here:
--   * singular table names; the primary key is `<table>_id` (uuid);
--   * `created_at` and `updated_at` are timestamptz; `updated_at` is maintained by the trigger
--     that `trigger_updated_at('<table>')` installs, so application code never forgets it;
--   * states are `text` with a CHECK constraint: readable in psql, and adding a state is a
--     one-line migration rather than an enum type dance;
--   * foreign keys wherever they hold.

create or replace function set_updated_at() returns trigger as
$$
begin
    new.updated_at = now();
    return new;
end;
$$ language plpgsql;

create or replace function trigger_updated_at(tablename regclass) returns void as
$$
begin
    execute format('create trigger set_updated_at
        before update on %s
        for each row
        when (old is distinct from new)
        execute function set_updated_at();', tablename);
end;
$$ language plpgsql;

-- The durable job queue. Workers claim rows with `FOR UPDATE SKIP LOCKED`, hold a lease that
-- their heartbeat extends, and give the row back (or fail it) when they finish. A job whose
-- lease expires (its worker died) is claimable again.
create table job
(
    job_id       uuid primary key     default gen_random_uuid(),
    -- What to do, e.g. `storage.delete_prefix`; the worker looks up a handler by this name.
    kind         text        not null check (kind ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
    payload      jsonb       not null default '{}',
    state        text        not null default 'queued'
        check (state in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    -- Higher runs first among jobs that are due.
    priority     smallint    not null default 0,
    attempts     integer     not null default 0 check (attempts >= 0),
    max_attempts integer     not null default 5 check (max_attempts > 0),
    -- Not claimable before this time (backoff after a failure, or a scheduled job).
    run_after    timestamptz not null default now(),
    -- While running: the worker that holds it and until when.
    locked_by    text,
    lease_until  timestamptz,
    last_error   text,
    -- Enqueueing the same work twice while it is pending or running is a no-op.
    unique_key   text,
    progress     real check (progress >= 0 and progress <= 1),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    finished_at  timestamptz,
    check ((state = 'running') = (lease_until is not null))
);

select trigger_updated_at('job');

create unique index job_unique_key_active on job (unique_key)
    where unique_key is not null and state in ('queued', 'running');

-- The claim query's access path: due jobs by priority, and expired leases.
create index job_queued on job (priority desc, run_after) where state = 'queued';
create index job_running_lease on job (lease_until) where state = 'running';

-- Wake sleeping workers as soon as a job is enqueued; they also poll, so a lost notification
-- only delays a job, never loses it.
create or replace function notify_job_enqueued() returns trigger as
$$
begin
    perform pg_notify('lectern_job_enqueued', new.kind);
    return null;
end;
$$ language plpgsql;

create trigger job_enqueued
    after insert or update of state, run_after on job
    for each row
    when (new.state = 'queued')
execute function notify_job_enqueued();
