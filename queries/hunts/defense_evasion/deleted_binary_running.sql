-- title: A program still running after its file was deleted
-- description: A process keeps acting (files, sockets) after the file its command line started
--   from was unlinked on the same host: droppers delete themselves once running. Package
--   upgrades replace binaries by rename, not unlink, so they do not show here.
-- attack: T1070.004, T1036
-- severity: high
-- tags: defense_evasion, execution
-- param: grace_seconds = 1
WITH deleted AS (
  SELECT collector_id, fd_name AS path, min(event_time) AS deleted_at, min(seq) AS unlink_seq
  FROM events
  WHERE evt_type IN ('unlink', 'unlinkat') AND fd_name LIKE '/%'
  GROUP BY collector_id, fd_name
)
SELECT e.seq, d.unlink_seq, e.collector_id, e.event_time, d.deleted_at, e.evt_type, e.proc_pid,
       e.proc_name, e.proc_cmdline, e.fd_name, e.fd_sip AS remote_ip
FROM deleted d
JOIN events e ON d.collector_id = e.collector_id AND d.path = split_part(e.proc_cmdline, ' ', 1)
WHERE date_part('epoch', e.event_time) - date_part('epoch', d.deleted_at) > {{grace_seconds}}
ORDER BY e.event_time, e.seq;
