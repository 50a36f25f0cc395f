-- WS-Federation relying parties: a fourth application kind. SQLite cannot change a CHECK in
-- place, so the table is rebuilt as its documentation prescribes. Migrations run with foreign
-- keys off (see sqlite.rs), so dropping the old table cascades nothing; the keys are checked
-- once the migrations are done.
CREATE TABLE apps_new (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('m365', 'saml', 'wsfed', 'bookmark')),
    label            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    portal_image     TEXT,
    show_in_portal   BOOLEAN NOT NULL,
    issuer           TEXT,
    domain           TEXT,
    sp_entity_id     TEXT,
    config           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    require_mfa      BOOLEAN NOT NULL DEFAULT FALSE,
    allowed_networks TEXT NOT NULL DEFAULT '[]',
    idp_path         TEXT
);
INSERT INTO apps_new (id, kind, label, description, portal_image, show_in_portal, issuer, domain, sp_entity_id,
                      config, created_at, updated_at, require_mfa, allowed_networks, idp_path)
    SELECT id, kind, label, description, portal_image, show_in_portal, issuer, domain, sp_entity_id,
           config, created_at, updated_at, require_mfa, allowed_networks, idp_path FROM apps;
DROP TABLE apps;
ALTER TABLE apps_new RENAME TO apps;
CREATE UNIQUE INDEX apps_label_key ON apps (lower(label));
CREATE UNIQUE INDEX apps_domain_key ON apps (domain);
CREATE UNIQUE INDEX apps_sp_entity_id_key ON apps (sp_entity_id);
CREATE UNIQUE INDEX apps_issuer_key ON apps (issuer);
CREATE UNIQUE INDEX apps_idp_path_key ON apps (idp_path);
