-- Processing runtime: find an asset's jobs (cancel them when it is deleted, list them in
-- `GET /v1/jobs`) and share workers fairly between owners.

-- Media jobs name their asset in the payload; this finds them without a scan of the queue.
create index job_asset on job ((payload ->> 'asset_id')) where payload ? 'asset_id';

-- Who a media job works for: claiming prefers the owner with the fewest running jobs, so one
-- instructor's backlog does not delay another's short lesson. Null for housekeeping jobs.
alter table job add column owner_id uuid;

create index job_running_owner on job (owner_id) where state = 'running' and owner_id is not null;
