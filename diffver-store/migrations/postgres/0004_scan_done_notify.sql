-- Announces finished scans on the channel `diffver_scan_done` (payload: the scan id),
-- so an API process waiting on `?wait=` for a scan a worker in another process finished
-- wakes at once instead of at its next poll. A hint, like `diffver_scan_jobs`: waiters
-- still poll.
CREATE FUNCTION diffver_scan_done_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('diffver_scan_done', NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER scans_done_notify AFTER UPDATE OF status ON scans
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'error') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION diffver_scan_done_notify();
