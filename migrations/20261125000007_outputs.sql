-- Outputs of processing: every transcode writes a new, numbered version of an asset's package
-- under assets/{asset_id}/v{n}/, and the asset points at the one learners get. Publishing flips
-- `current_version` in one transaction, so a half-written package is never visible and a
-- reprocessed asset stays playable on its old version until the new one is complete.

alter table asset
    -- The preset the next transcode uses (`course`, `fast`, or a configured one).
    add column preset         text    not null default 'course' check (preset ~ '^[a-z0-9_-]{1,64}$'),
    -- The published version learners are served; null until the first one is published.
    add column current_version integer check (current_version > 0),
    -- True once some version can be played (it may still be a first, partial ladder).
    add column playable       boolean not null default false,
    -- Progress of the running transcode (0..1) and its estimated seconds left; null otherwise.
    add column progress       real check (progress between 0 and 1),
    add column eta_seconds    integer check (eta_seconds >= 0),
    -- Who may watch without a grant: `private` (owner, admins, grantees) or `public` (anyone
    -- signed in).
    add column visibility     text    not null default 'private' check (visibility in ('private', 'public'));

-- One attempt at producing a package. A retried attempt takes a new number, so its files never
-- mix with a failed attempt's; only a `published` version is ever served.
create table asset_version
(
    asset_id     uuid        not null references asset (asset_id) on delete cascade,
    version      integer     not null check (version > 0),
    preset       text        not null,
    state        text        not null default 'processing'
        check (state in ('processing', 'published', 'failed', 'superseded')),
    -- Relative paths inside the version's prefix: {"hls": "master.m3u8", "dash": "manifest.mpd",
    -- "poster": …, "storyboard": …, "download": …}; written when the version is published.
    manifests    jsonb       not null default '{}',
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    published_at timestamptz,
    primary key (asset_id, version),
    check ((state = 'processing') or (state = 'failed') or (published_at is not null))
);

select trigger_updated_at('asset_version');

-- At most one published version per asset: the one `current_version` names.
create unique index asset_version_one_published on asset_version (asset_id) where state = 'published';

-- What a published version contains, for the asset JSON and for players' rendition lists.
create table rendition
(
    asset_id          uuid             not null,
    version           integer          not null,
    -- The rung or audio rendition name, also its folder in the package (`720p`, `audio_eng`).
    name              text             not null,
    kind              text             not null check (kind in ('video', 'audio')),
    width             integer check (width > 0),
    height            integer check (height > 0),
    frame_rate        double precision check (frame_rate > 0),
    -- Peak and average bits per second, as the manifests state them.
    bandwidth         bigint           not null check (bandwidth > 0),
    average_bandwidth bigint check (average_bandwidth > 0),
    codecs            text             not null,
    language          text,
    duration_seconds  double precision not null check (duration_seconds >= 0),
    -- The media playlist's path relative to the version's prefix.
    playlist          text             not null,
    primary key (asset_id, version, name),
    foreign key (asset_id, version) references asset_version (asset_id, version) on delete cascade
);
