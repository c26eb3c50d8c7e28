-- Issue 19: tracing across the queue, and the optional SQS wake-up channel.

-- The W3C `traceparent` of the span that enqueued the job (an HTTP request, another job), when
-- spans are exported; the worker's job span continues that trace. Null when tracing is off.
-- The check keeps arbitrary text from being handed to a propagator: version 00's shape only.
alter table job add column traceparent text
    check (traceparent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');

-- A second notification, carrying the job's id, for the process that forwards new jobs to SQS
-- (`jobs::sqs`). Workers keep listening on `lectern_job_enqueued` (the kind), which is unchanged.
-- Like the first, it is sent only when the enqueuing transaction commits.
create or replace function notify_job_enqueued() returns trigger as
$$
begin
    perform pg_notify('lectern_job_enqueued', new.kind);
    perform pg_notify('lectern_job_queued_id', new.job_id::text);
    return null;
end;
$$ language plpgsql;
