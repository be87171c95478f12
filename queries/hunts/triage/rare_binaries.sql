-- title: Rare programs
-- description: Programs seen in few events across the dataset, with where and when they first
--   ran: a starting list for review, not a detection (severity info: not counted as hits).
-- attack: T1204
-- severity: info
-- tags: triage
-- param: max_events = 20
SELECT min(seq) AS seq, proc_name, count(*) AS events, count(DISTINCT collector_id) AS hosts,
       min(collector_id) AS collector_id, min(event_time) AS event_time,
       max(event_time) AS last_seen
FROM events
WHERE proc_name IS NOT NULL
GROUP BY proc_name
HAVING count(*) <= {{max_events}}
ORDER BY 6;
