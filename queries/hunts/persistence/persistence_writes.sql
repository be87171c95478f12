-- title: Writes to persistence locations
-- description: Files created or written in cron, systemd unit folders, authorized_keys, shell
--   start-up files and rc scripts. Configuration management is left out by its command line.
-- attack: T1053.003, T1543.002, T1098.004, T1546.004
-- severity: high
-- tags: persistence, file
-- param: paths = '^/etc/(cron\.(d|daily|hourly|weekly|monthly)/|crontab$)|^/var/spool/cron/|^/(etc|lib|usr/lib)/systemd/(system|user)/|/\.ssh/authorized_keys2?$|/\.(bashrc|bash_profile|profile|zshrc)$|^/etc/(profile\.d/|rc\.local$|ld\.so\.preload$)'
-- param: config_management = 'AnsiballZ_|puppet|chef-client|salt-minion|cfengine'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name, evt_args
FROM events
WHERE regexp_like(fd_name, {{paths}})
  AND (evt_type = 'write'
       OR (evt_type IN ('open', 'openat', 'openat2')
           AND regexp_like(evt_args, 'O_WRONLY|O_RDWR|O_CREAT|O_APPEND|O_TRUNC')))
  AND NOT regexp_like(coalesce(proc_cmdline, '') || ' ' || coalesce(proc_pcmdline, ''), {{config_management}})
ORDER BY event_time, seq;
