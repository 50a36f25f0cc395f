-- PostgreSQL's 0016 adds triggers that tell every node when the reads it keeps have changed.
-- SQLite has one serving process, whose own writes drop its reads at once (a management
-- command's, from another process, within a second): nothing to add. Kept so that both
-- backends number their migrations alike.
SELECT 1;
