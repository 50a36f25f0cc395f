-- Every node keeps two of the reads each sign-on makes (the application a URL names, with its
-- certificates; the access decision) for at most a second, and drops them all when any node (or
-- a management command, or SQL by hand) changes what they were read from: these triggers send a
-- notice on the channel `tessera_reads` that every node listens on. One notice a statement; PostgreSQL folds
-- identical notices of one transaction into one, sent when it commits. (Sessions are read
-- every time: a sign-out must not wait for a notice.)
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

CREATE TRIGGER apps_read_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_reads_changed();
CREATE TRIGGER users_read_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_reads_changed();
CREATE TRIGGER memberships_read_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_reads_changed();
CREATE TRIGGER grants_read_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON grants
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_reads_changed();
CREATE TRIGGER signing_keys_read_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_reads_changed();
CREATE TRIGGER previous_certificates_read_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON previous_certificates
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_reads_changed();
