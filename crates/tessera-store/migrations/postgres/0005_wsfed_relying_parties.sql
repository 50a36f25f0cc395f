-- WS-Federation relying parties: a fourth application kind.
ALTER TABLE apps DROP CONSTRAINT apps_kind_check;
ALTER TABLE apps ADD CONSTRAINT apps_kind_check CHECK (kind IN ('m365', 'saml', 'wsfed', 'bookmark'));
