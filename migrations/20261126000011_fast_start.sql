-- Playable in seconds: before the full ladder, a source that is already H.264/AAC in MP4 is
-- copied into the package format without encoding and published as its own version (a
-- `preview`), so learners can watch while the ladder is made. The ladder's version (`full`)
-- supersedes it like any newer version does.

alter table asset_version
    add column kind text not null default 'full' check (kind in ('preview', 'full'));
