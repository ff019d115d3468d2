//! The server's schema, as numbered migrations applied in order. Written once
//! for both SQLite and PostgreSQL: only TEXT and BIGINT columns, ids made by
//! the server, no database-specific types, so one list serves both.

/// Each entry is one migration; never edit a released one, append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: tenancy and the queue.
    "CREATE TABLE tenants (
        name TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        -- Per-tenant quotas; NULL means unlimited. CPUs in thousandths.
        quota_millicpus BIGINT,
        quota_memory BIGINT,
        quota_gpus BIGINT,
        quota_running BIGINT,
        -- Fair-share weight: a tenant with weight 2 gets twice the share.
        weight BIGINT NOT NULL DEFAULT 1
    );
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants(name),
        role TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        -- SHA-256 of the token: the token itself is never stored.
        hash TEXT NOT NULL UNIQUE,
        user_name TEXT NOT NULL REFERENCES users(name),
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants(name),
        submitted_by TEXT NOT NULL,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        placement TEXT NOT NULL,
        priority BIGINT NOT NULL,
        millicpus BIGINT NOT NULL,
        memory BIGINT NOT NULL,
        gpus BIGINT NOT NULL,
        gpu_type TEXT,
        state TEXT NOT NULL,
        pool TEXT,
        workload_id TEXT,
        exit_code BIGINT,
        reason TEXT,
        cancel_requested BIGINT NOT NULL DEFAULT 0,
        submitted_at BIGINT NOT NULL,
        started_at BIGINT,
        ended_at BIGINT
    );
    CREATE INDEX jobs_by_state ON jobs (state);
    CREATE INDEX jobs_by_tenant ON jobs (tenant, submitted_at)",
];
