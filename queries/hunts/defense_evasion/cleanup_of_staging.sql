-- title: Deletion of staged files
-- description: Files removed from hidden temporary folders, or a recursive delete of one.
-- attack: T1070.004
-- severity: medium
-- tags: defense_evasion, file
-- param: staging = '^/(tmp|var/tmp|dev/shm)/(.*/)?\.[^/]+'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline, fd_name
FROM events
WHERE (evt_type IN ('unlink', 'unlinkat', 'rmdir') AND regexp_like(fd_name, {{staging}}))
   OR regexp_like(proc_cmdline, '^rm\s+-[a-z]*r[a-z]*\s+/(tmp|var/tmp|dev/shm)/\.')
ORDER BY event_time, seq;
