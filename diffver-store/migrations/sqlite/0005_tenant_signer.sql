-- Which of the deployment's signing keys signs a tenant's artifacts (its key id); NULL:
-- the deployment's default signer.
ALTER TABLE tenants ADD COLUMN signer TEXT;
