-- title: Database dump from an interactive shell
-- description: mysqldump, pg_dump, mongodump and friends started from an interactive shell
--   rather than a scheduled backup script.
-- attack: T1005, T1213
-- severity: high
-- tags: collection, database
-- param: dump_tools = '^(mysqldump|mariadb-dump|pg_dump|pg_dumpall|mongodump|redis-cli)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name
FROM events
WHERE regexp_like(proc_name, {{dump_tools}})
  AND regexp_like(proc_pname, '^(sh|bash|dash|zsh|ksh)$')
ORDER BY event_time, seq;
