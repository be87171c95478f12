-- title: Dataset overview per collector
-- description: Events, time span (JetStream and event clocks) and parse problems per collector.
--   A first look at any export: which hosts are present, and whether their clocks agree.
SELECT collector_id,
       count(*)                                            AS events,
       min(nats_time)                                      AS first_received,
       max(nats_time)                                      AS last_received,
       min(event_time)                                     AS first_event,
       max(event_time)                                     AS last_event,
       sum(CASE WHEN parse_status = 'repaired' THEN 1 ELSE 0 END) AS repaired,
       sum(CASE WHEN parse_status = 'invalid' THEN 1 ELSE 0 END)  AS invalid
FROM events
GROUP BY collector_id
ORDER BY collector_id;
