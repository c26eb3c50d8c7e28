-- Course-completion certificates: one per completed enrolment attempt of a course that enables
-- them, signed with the server's certificate key (Ed25519). The signed record is kept as the
-- exact bytes that were signed, so what is served is what was signed; the other columns repeat
-- what queries need from it.
create table certificate
(
    -- 122 random bits (UUIDv4) made by the application, which signs the id inside the record;
    -- never derived from anything, so holding an id is what lets someone look a certificate up.
    certificate_id uuid primary key,
    -- One certificate per attempt. A course assigned again is a new enrolment row (attempt n+1),
    -- which gets a certificate of its own; the earlier one stays valid. The certificate outlives
    -- its enrolment and course as a record (their ids stay in the signed record).
    enrollment_id  uuid unique references enrollment (enrollment_id) on delete set null,
    course_id      uuid references course (course_id) on delete set null,
    -- A learner's certificates carry their name, so they go with the account.
    account_id     uuid        not null references account (account_id) on delete cascade,
    issued_at      timestamptz not null,
    -- The canonical JSON (sorted keys, no whitespace, integers only) that the signature covers.
    record         text        not null check (record like '{%}'),
    signature      bytea       not null check (length(signature) = 64),
    key_id         text        not null check (length(key_id) between 1 and 100),
    revoked_at     timestamptz,
    revoked_reason text check (length(revoked_reason) <= 200),
    created_at     timestamptz not null default now(),
    check ((revoked_at is null) = (revoked_reason is null))
);

create index certificate_account on certificate (account_id, issued_at desc);

-- The name a learner wants printed on their certificates (accounts hold only an email).
-- Certificates already issued keep the name they were issued with.
create table certificate_name
(
    account_id uuid primary key references account (account_id) on delete cascade,
    name       text        not null check (length(name) between 1 and 200 and name = btrim(name)),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

select trigger_updated_at('certificate_name');
