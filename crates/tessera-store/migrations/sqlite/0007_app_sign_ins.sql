-- An application's Sign-ins tab reads its most recent events, newest first.
CREATE INDEX audit_events_target ON audit_events (target_kind, target_id, id);
