-- title: Payloads that needed repair or could not be read
-- description: Rows whose payload was not valid JSON. Repaired rows still have typed fields;
--   invalid ones keep only provenance and the raw bytes (shown here as text).
SELECT seq, subject, parse_status, parse_error, CAST(payload AS VARCHAR) AS payload_text
FROM events
WHERE parse_status IN ('repaired', 'invalid')
ORDER BY seq;
