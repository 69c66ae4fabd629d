-- Announces changes to API keys on the channel `diffver_key_changed` (payload: the key's
-- id), so API processes that cache verified keys drop a revoked, expired-early, or
-- deleted key at once. `last_used_ms` bookkeeping is not announced.
CREATE FUNCTION diffver_key_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('diffver_key_changed', OLD.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_changed_notify AFTER UPDATE ON api_keys
    FOR EACH ROW
    WHEN (OLD.revoked_ms IS DISTINCT FROM NEW.revoked_ms
          OR OLD.expires_ms IS DISTINCT FROM NEW.expires_ms
          OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.secret_hmac IS DISTINCT FROM NEW.secret_hmac
          OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
          OR OLD.prefix IS DISTINCT FROM NEW.prefix)
    EXECUTE FUNCTION diffver_key_changed_notify();
CREATE TRIGGER api_keys_deleted_notify AFTER DELETE ON api_keys
    FOR EACH ROW
    EXECUTE FUNCTION diffver_key_changed_notify();
