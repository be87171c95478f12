-- title: Host timeline
-- description: Every event in event-time order with its process context. Narrow it with a
--   WHERE clause on collector_id and event_time when the dataset is large.
SELECT event_time, collector_id, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_ppid, proc_pname, fd_name, seq
FROM events
WHERE event_time IS NOT NULL
ORDER BY collector_id, event_time, seq;
