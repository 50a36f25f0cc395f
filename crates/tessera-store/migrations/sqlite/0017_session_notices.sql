-- PostgreSQL's 0017 adds a trigger that tells every node when a session ends. SQLite has one
-- serving process, whose own sign-outs drop its reads at once: nothing to add. Kept so that
-- both backends number their migrations alike.
SELECT 1;
