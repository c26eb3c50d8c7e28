-- A reprocess that fails for good leaves its asset `ready` on the version it already plays, and
-- records why on the asset (`error_code`, `error_message`, shown as the asset's `error`) until a
-- later version is published or another reprocess is requested. So an error code no longer
-- implies `errored`; `errored` still always carries one.
alter table asset drop constraint asset_check;
alter table asset add constraint asset_errored_has_code
    check (status <> 'errored' or error_code is not null),
    add constraint asset_error_only_errored_or_ready
    check (error_code is null or status in ('errored', 'ready'));
