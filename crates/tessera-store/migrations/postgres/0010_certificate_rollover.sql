-- A staged rollover keeps the certificate it replaced published (as the next certificate) for
-- a grace period, so that a configuration a relying party cached still verifies. Only the
-- certificate is kept: its private key is destroyed when the staged key is promoted.
CREATE TABLE previous_certificates (
    app_id          TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    certificate     BYTEA NOT NULL,
    not_after       BIGINT NOT NULL,
    published_until BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- Background jobs that must run on one node at a time (the automatic rollover) hold a lease:
-- taken when free or expired, so that a node that dies holding it does not stop the job.
CREATE TABLE job_leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);
