-- The test-only probe service's own tables.
CREATE TABLE probe_things (
    id         uuid PRIMARY KEY,
    key        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE probe_seen (
    seq        bigserial PRIMARY KEY,
    event_id   uuid NOT NULL,
    key        text NOT NULL,
    seen_by    int  NOT NULL
);
CREATE TABLE probe_fired (
    key        text NOT NULL,
    fired_by   int  NOT NULL,
    fired_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE probe_blocked (
    key        text PRIMARY KEY
);
