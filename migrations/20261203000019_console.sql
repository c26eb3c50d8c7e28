-- The one-time setup token of a fresh install (issue 17, the web console's first run).
--
-- While no account holds the `admin` role, every `lectern serve` start writes a new random token
-- here (replacing the previous one) and prints it in its log, as Jupyter and Grafana do; the first
-- page of the console asks for it before it creates the administrator. Only its SHA-256 is stored,
-- so a database dump does not hand out administrator rights. The row is deleted when it is used.
-- At most one row: the primary key is a boolean that can only be true.
create table setup_token (
    singleton boolean primary key default true check (singleton),
    token_sha256 bytea not null,
    created_at timestamptz not null default now()
);
