-- Training: courses made of ordered sections and lessons, enrolments, and watch progress that
-- the server decides. Also the access facts training writes for playback (the `access_*`
-- tables, whose SQL is all in the playback domain's access seam).

-- ---------------------------------------------------------------------------------------------
-- The access seam's facts about collections of assets. A collection is a course (its id is the
-- course id); training writes these rows through `playback::access`, and `may_watch` reads them:
-- an active pass to an open collection lets its holder watch the collection's assets, and a
-- preview asset of an open collection may be watched by anyone signed in. One pass per account
-- and collection, so enrolling 10,000 learners is 10,000 rows, and adding a lesson is one row,
-- however many learners there are.
create table access_collection
(
    collection_id uuid primary key,
    owner_id      uuid        not null references account (account_id) on delete cascade,
    -- Published or archived course: its passes open its assets. A draft opens nothing.
    open          boolean     not null default false,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

select trigger_updated_at('access_collection');

create table access_collection_asset
(
    collection_id uuid    not null references access_collection (collection_id) on delete cascade,
    asset_id      uuid    not null references asset (asset_id) on delete cascade,
    -- Any signed-in account may watch it (a free preview lesson).
    preview       boolean not null default false,
    primary key (collection_id, asset_id)
);

create index access_collection_asset_asset on access_collection_asset (asset_id);

create table access_pass
(
    collection_id uuid        not null references access_collection (collection_id) on delete cascade,
    account_id    uuid        not null references account (account_id) on delete cascade,
    active        boolean     not null,
    -- Access ends by itself at this time, even before a sweep marks the pass inactive.
    expires_at    timestamptz,
    -- Who wrote it and why, for the record (`enrollment`).
    source        text        not null check (source ~ '^[a-z_]+$'),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    primary key (collection_id, account_id)
);

select trigger_updated_at('access_pass');

create index access_pass_account on access_pass (account_id) where active;

-- A playback session may be opened for a context another domain names (training: the lesson).
-- Playback stores it and hands it back; it never interprets it.
alter table playback_session add column context_id uuid;

-- ---------------------------------------------------------------------------------------------
-- Courses.
create table course
(
    course_id            uuid primary key     default gen_random_uuid(),
    owner_id             uuid        not null references account (account_id) on delete cascade,
    title                text        not null check (length(title) between 1 and 200),
    description          text        not null default '' check (length(description) <= 20000),
    -- draft → published → archived. Archived: no new enrolments, enrolled learners keep access.
    status               text        not null default 'draft' check (status in ('draft', 'published', 'archived')),
    -- A free course can be joined by any signed-in learner; others are enrolled by staff, keys
    -- or (later) purchases.
    free                 boolean     not null default false,
    -- Covered share of a lesson that completes it, unless the lesson sets its own.
    completion_threshold real        not null default 0.9 check (completion_threshold between 0.5 and 1.0),
    certificate_enabled  boolean     not null default false,
    published_at         timestamptz,
    archived_at          timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    check ((status = 'draft') = (published_at is null)),
    check ((status = 'archived') = (archived_at is not null))
);

select trigger_updated_at('course');

create index course_owner on course (owner_id, created_at);
create index course_published on course (published_at) where status = 'published';

create table course_section
(
    section_id uuid primary key     default gen_random_uuid(),
    course_id  uuid        not null references course (course_id) on delete cascade,
    title      text        not null check (length(title) between 1 and 200),
    position   integer     not null check (position >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (course_id, position) deferrable initially deferred
);

select trigger_updated_at('course_section');

create table lesson
(
    lesson_id            uuid primary key     default gen_random_uuid(),
    course_id            uuid        not null references course (course_id) on delete cascade,
    section_id           uuid        not null references course_section (section_id) on delete cascade,
    position             integer     not null check (position >= 0),
    title                text        not null check (length(title) between 1 and 200),
    kind                 text        not null check (kind in ('video', 'text', 'link')),
    -- video: the asset, and its duration as of `duration_version` (the published version the
    -- snapshot was taken from; refreshed when a newer one publishes).
    asset_id             uuid references asset (asset_id) on delete set null,
    duration_ms          integer check (duration_ms >= 0),
    duration_version     integer,
    -- text: the body (Markdown); link: the URL.
    body                 text check (length(body) <= 200000),
    url                  text check (length(url) <= 2048),
    required             boolean     not null default true,
    free_preview         boolean     not null default false,
    -- Overrides the course's threshold when set.
    completion_threshold real check (completion_threshold between 0.5 and 1.0),
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    unique (section_id, position) deferrable initially deferred,
    check (kind <> 'text' or body is not null),
    check (kind <> 'link' or url is not null)
);

select trigger_updated_at('lesson');

create index lesson_course on lesson (course_id);
create index lesson_asset on lesson (asset_id) where asset_id is not null;

-- ---------------------------------------------------------------------------------------------
-- Enrolments: active ⇄ suspended → expired | revoked. One enrolment per course and account is
-- current (active or suspended); a new attempt (a course assigned again) ends the current one as
-- `expired` with reason `reassigned` and keeps it, and its progress, as a record.
create table enrollment
(
    enrollment_id    uuid primary key     default gen_random_uuid(),
    course_id        uuid        not null references course (course_id) on delete cascade,
    account_id       uuid        not null references account (account_id) on delete cascade,
    attempt          integer     not null default 1 check (attempt > 0),
    status           text        not null default 'active'
        check (status in ('active', 'suspended', 'expired', 'revoked')),
    source           text        not null
        check (source in ('free', 'admin', 'api', 'purchase', 'subscription', 'lti')),
    enrolled_by      uuid        references account (account_id) on delete set null,
    -- The enrolment expires by itself at this time.
    expires_at       timestamptz,
    -- Why it ended or was suspended (`reassigned`, `expired`, or the caller's reason).
    status_reason    text check (length(status_reason) <= 200),
    completed_at     timestamptz,
    last_activity_at timestamptz,
    ended_at         timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    unique (course_id, account_id, attempt),
    check ((status in ('expired', 'revoked')) = (ended_at is not null))
);

select trigger_updated_at('enrollment');

create unique index enrollment_current on enrollment (course_id, account_id) where status in ('active', 'suspended');
create index enrollment_account on enrollment (account_id, created_at);
create index enrollment_expiring on enrollment (expires_at) where status in ('active', 'suspended') and expires_at is not null;

-- What one attempt has watched of one lesson. `coverage` has one bit per second of the lesson
-- (bit i of byte i/8, least significant first), only ever OR-ed into; `covered_seconds` is its
-- population count within the lesson's duration as of the last report. `completed_at` is set
-- once and never cleared.
create table lesson_progress
(
    enrollment_id   uuid        not null references enrollment (enrollment_id) on delete cascade,
    lesson_id       uuid        not null references lesson (lesson_id) on delete cascade,
    coverage        bytea       not null default '\x',
    covered_seconds integer     not null default 0 check (covered_seconds >= 0),
    position_ms     integer     not null default 0 check (position_ms >= 0),
    position_at     timestamptz,
    watch_ms        bigint      not null default 0 check (watch_ms >= 0),
    clipped_ms      bigint      not null default 0 check (clipped_ms >= 0),
    completed_at    timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (enrollment_id, lesson_id)
);

create index lesson_progress_lesson on lesson_progress (lesson_id);

-- The report stream of one playback session: where the plausibility clock stands and the
-- answers to its last reports, so a replayed `seq` gets the same answer and changes nothing.
create table progress_stream
(
    session_id     uuid primary key references playback_session (session_id) on delete cascade,
    enrollment_id  uuid        not null references enrollment (enrollment_id) on delete cascade,
    lesson_id      uuid        not null references lesson (lesson_id) on delete cascade,
    last_seq       bigint      not null check (last_seq >= 0),
    last_report_at timestamptz not null,
    -- Milliseconds of new coverage the stream may still add: starts at 2 s of slack, grows by
    -- the wall time between reports × min(rate, 2), shrinks by what is covered. Unused credit
    -- carries over, so jitter between reports costs nothing: over the whole stream, coverage
    -- never exceeds what its wall time allows (a paused page saves credit it may spend later,
    -- as a per-report cap measured from the previous report would allow too).
    credit_ms      bigint      not null check (credit_ms >= 0),
    -- [{"seq": n, "answer": {…}}, …], newest last, at most a few.
    answers        jsonb       not null default '[]',
    created_at     timestamptz not null default now()
);

-- API keys may now carry the course scopes.
alter table api_key drop constraint api_key_scopes_check;
alter table api_key add constraint api_key_scopes_check
    check (cardinality(scopes) > 0 and
           scopes <@ array ['assets:read', 'assets:write', 'playback:create', 'webhooks:read',
                            'webhooks:write', 'courses:read', 'courses:write']::text[]);
