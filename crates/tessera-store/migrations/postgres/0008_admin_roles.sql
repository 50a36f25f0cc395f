-- Administrator roles: a full administrator ('admin'), an application administrator
-- ('app-admin', who reaches only the applications listed for them), a read-only auditor
-- ('auditor'). API tokens carry a role of their own. Everyone existing stays a full
-- administrator.
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'app-admin', 'auditor'));
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'app-admin', 'auditor'));

CREATE TABLE admin_apps (
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    app_id   TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    PRIMARY KEY (admin_id, app_id)
);
CREATE INDEX admin_apps_app ON admin_apps (app_id);

CREATE TABLE api_token_apps (
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    app_id   TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, app_id)
);
CREATE INDEX api_token_apps_app ON api_token_apps (app_id);
