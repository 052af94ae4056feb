-- Keys whose events fail with a transient fault until the row is deleted (a database that keeps
-- timing out for one partition): the consumer must rewind that partition, not skip it.
-- depends: 0001_probe
CREATE TABLE probe_failing (
    key        text PRIMARY KEY
);
