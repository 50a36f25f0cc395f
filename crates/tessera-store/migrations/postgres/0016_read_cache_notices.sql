-- Every node keeps two of the reads each sign-on makes (the application a URL names, with its
-- certificates; the access decision) for at most a second, and drops them all when any node (or
-- a management command, or SQL by hand) changes what they were read from: these triggers send a
-- notice on the channel `tessera_reads` that every node listens on. One notice a statement;
-- PostgreSQL folds identical notices of one transaction into one, sent when it commits.
-- (Sessions are read every time: a sign-out must not wait for a notice.)
-- Creating the triggers waits for transactions writing these tables to end (a directory sync,
-- say) and holds their writes meanwhile; reads go on.
-- Compatible with the release before it: its nodes keep no such reads, and their writes notify
-- this release's nodes all the same.
CREATE FUNCTION tessera_reads_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tessera_reads', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

-- One trigger a table, named after it (`apps_read_cache`, …).
DO $$
DECLARE
    kept_from TEXT;
BEGIN
    FOREACH kept_from IN ARRAY ARRAY['apps', 'signing_keys', 'previous_certificates', 'users', 'memberships', 'grants'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION tessera_reads_changed()',
            kept_from || '_read_cache', kept_from);
    END LOOP;
END
$$;
