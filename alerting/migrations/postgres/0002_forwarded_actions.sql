-- firegrid's shared incident store, version 2: responder actions forwarded to the owning
-- partition's leader (DESIGN §9 "Any instance serves everything"). An instance that does not lead
-- the partition of an incident's county inserts the action here; the owning leader claims it, applies
-- it in its engine and writes the result in the same transaction as the incident change
-- (alerting/src/forward/, alerting/src/store/postgres/forward.rs).
--
-- state: pending (inserted) -> claimed (the owning leader took it; the poster may no longer cancel)
-- -> applied (result written with the incident change), or pending -> cancelled (the poster's
-- deadline passed before any leader claimed it: it is never applied).

CREATE TABLE forwarded_actions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT NOT NULL,
    -- The incident's county (from its id): which partition's leader applies it.
    county TEXT NOT NULL,
    action TEXT NOT NULL,
    -- The authenticated actor (`station:ms-1`, `dispatcher:duty`), checked by the posting instance.
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    -- `http` (a caller waits for the result) or `mqtt` (a station's acknowledgement, no waiter).
    origin TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'claimed', 'applied', 'cancelled')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_partition TEXT,
    claimed_epoch BIGINT,
    finished_at TIMESTAMPTZ,
    -- The owner engine's answer: `ok`, `not_found`, `conflict`, `unavailable` or `internal`.
    result_code TEXT,
    result_reason TEXT,
    -- `ok`: the incident as the owner answered it (JSON).
    result_incident TEXT
);
CREATE INDEX forwarded_actions_open ON forwarded_actions (county, id) WHERE state IN ('pending', 'claimed');
CREATE INDEX forwarded_actions_finished ON forwarded_actions (finished_at) WHERE state IN ('applied', 'cancelled');

-- Wake-ups, sent at commit: `firegrid_forward` (payload: the county) to the leaders when an action
-- is inserted, `firegrid_forward_done` (payload: the id) to the posters when one is applied. A lost
-- notification only delays: both sides also poll.
CREATE FUNCTION forwarded_actions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('firegrid_forward', NEW.county);
    ELSIF NEW.state = 'applied' AND OLD.state <> 'applied' THEN
        PERFORM pg_notify('firegrid_forward_done', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER forwarded_actions_notify AFTER INSERT OR UPDATE OF state ON forwarded_actions
    FOR EACH ROW EXECUTE FUNCTION forwarded_actions_notify();
