-- A number withdrawn from sale by the operator: status 'withdrawn', owned by
-- nobody, out of search and the shelf; an inventory import puts it back.
ALTER TABLE dids DROP CONSTRAINT dids_status_check;
ALTER TABLE dids ADD CONSTRAINT dids_status_check
    CHECK (status IN ('available', 'assigned', 'aging', 'withdrawn'));
