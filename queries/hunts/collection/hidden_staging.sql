-- title: Staging in a hidden temporary folder
-- description: Any file activity under a hidden folder of /tmp, /var/tmp or /dev/shm (archives,
--   dumps, tools), by any process: attackers stage there, packages and services rarely do.
-- attack: T1074.001
-- severity: medium
-- tags: collection, staging, file
-- param: staging = '^/(tmp|var/tmp|dev/shm)/(.*/)?\.[^/]+'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline, fd_name
FROM events
WHERE regexp_like(fd_name, {{staging}})
ORDER BY event_time, seq;
