-- The sync's own bookkeeping. No legacy table is altered: everything the
-- sync needs besides the legacy rows lives in the order_sync schema.

-- The event version each order's legacy rows stand for. Events at or below
-- it are stale or duplicates; only a higher version is ever written.
-- Version 0: the order is known (its row is locked by a batch) but no rows
-- were written yet.
CREATE TABLE order_sync.applied (
    order_id   uuid PRIMARY KEY,
    version    integer NOT NULL CHECK (version >= 0),
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Progress of `legacy-sync-admin rebuild`, one row per scan segment, so an
-- interrupted rebuild resumes where each segment stopped.
CREATE TABLE order_sync.rebuild_segment (
    segment    integer PRIMARY KEY CHECK (segment >= 0),
    segments   integer NOT NULL CHECK (segment < segments),
    cursor     text,
    done       boolean NOT NULL DEFAULT false,
    pages      bigint NOT NULL DEFAULT 0,
    events     bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
