-- title: Collector silences and restarts
-- description: Stretches with no event from a collector longer than a threshold, and restarts
--   (the collector's event counter falling back by more than a margin), both in publish order:
--   blind spots to state in the report. Only the shapes that carry the collector's own counter
--   are compared (other producers on the same subject count on their own).
-- attack: T1562.001
-- severity: info
-- tags: triage, collector
-- param: silence_seconds = 60
-- param: restart_drop = 1000
-- param: counter_shapes = 'sysarmor_template,worker_wrapper'
WITH ordered AS (
  SELECT seq, collector_id, event_time, evt_num,
         lag(event_time) OVER w AS prev_time,
         lag(evt_num) OVER w AS prev_num
  FROM events
  WHERE event_time IS NOT NULL AND collector_id IS NOT NULL
    AND array_has(string_to_array({{counter_shapes}}, ','), shape)
  WINDOW w AS (PARTITION BY collector_id ORDER BY seq)
)
SELECT seq, collector_id, event_time, prev_time,
       date_part('epoch', event_time) - date_part('epoch', prev_time) AS silence_seconds,
       prev_num, evt_num,
       CASE WHEN evt_num < prev_num - {{restart_drop}} THEN 'restart' ELSE 'silence' END AS kind
FROM ordered
WHERE date_part('epoch', event_time) - date_part('epoch', prev_time) > {{silence_seconds}}
   OR evt_num < prev_num - {{restart_drop}}
ORDER BY event_time, seq;
