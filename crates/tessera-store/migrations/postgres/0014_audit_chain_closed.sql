-- Finishing (applied by `tessera migrate finish` on PostgreSQL, once every node runs a release
-- with the audit chain; on SQLite, one node, at once): records without a link are refused from
-- now on. The last record written until now is noted: a record without a link up to it was
-- written by a node of the release before the chain, during the upgrade; after it, by no node.
-- Inserts wait while it runs, so none that began before it commits after it with a later id.
LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE;
UPDATE audit_chain_upgrade
   SET open = FALSE, closed_at_id = (SELECT COALESCE(MAX(id), 0) FROM audit_events)
 WHERE open;
