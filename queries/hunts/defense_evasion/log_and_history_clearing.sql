-- title: Logs or shell history cleared
-- description: System logs (auth, syslog, wtmp/btmp/lastlog, audit, journal) truncated, emptied
--   or deleted, and shell history deleted, emptied or pointed at /dev/null, by anything but the
--   log rotators and the logging daemons themselves (logrotate and what it starts, savelog,
--   rsyslogd, journald, auditd); plus command lines that switch history off or wipe logs.
--   Deleting rotated archives (syslog.7.gz, access.log-20250701) is retention, not a hit.
-- attack: T1070.002, T1070.003
-- severity: high
-- tags: defense_evasion, file
-- param: logs = '^/var/log/(auth\.log|syslog|messages|secure|kern\.log|wtmp|btmp|lastlog|faillog|audit/|journal/|nginx/|apache2/|httpd/|mysql|cron|daemon\.log|user\.log)'
-- param: history = '/\.(bash_history|zsh_history|sh_history|history|ash_history|mysql_history|psql_history|python_history|lesshst|viminfo)$'
-- param: rotators = '^(logrotate|savelog|rsyslogd|rs:main Q:Reg|in:imuxsock|syslog-ng|systemd-journal|journalctl|auditd|gzip|xz|bzip2|zstd|mysqld|mariadbd|nginx|apache2|httpd|invoke-rc.d|rsyslog-rotate|systemd-tmpfiles|lastlog|login|sshd|cron|agetty|systemd-logind|bash|zsh|sh)$'
-- param: cmdlines = '\bhistory\s+-c\b|unset\s+HISTFILE|HISTFILE=/dev/null|HISTSIZE=0|\bln\s+-[a-z]*s[a-z]*\s+/dev/null\s+\S*history|\bshred\s+.*(/var/log/|history)|\btruncate\s+(.*\s)?-s\s*0\s+.*(/var/log/|history)|\bjournalctl\s+.*--rotate.*--vacuum-(time|size)=1[sK]?\b|\bauditctl\s+-D\b|\bwevtutil\b|>\s*/var/log/(auth\.log|syslog|messages|secure|wtmp|btmp|lastlog)\b'
-- param: rotated = '(\.[0-9]+|-[0-9]{8})(\.(gz|xz|bz2|zst))?$|\.(gz|xz|bz2|zst)$'
-- param: rotator_parents = '^(logrotate|savelog|cron\.daily|run-parts)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name, evt_args
FROM events
WHERE regexp_like(proc_cmdline, {{cmdlines}})
UNION
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name, evt_args
FROM events
WHERE coalesce(regexp_like(fd_name, {{logs}}) OR regexp_like(fd_name, {{history}}), FALSE)
  AND (evt_type IN ('unlink', 'unlinkat', 'rename', 'renameat', 'renameat2', 'truncate', 'ftruncate')
       OR (evt_type IN ('open', 'openat', 'openat2') AND evt_args LIKE '%O_TRUNC%')
       OR (evt_type IN ('open', 'openat', 'openat2') AND regexp_like(fd_name, {{history}})
           AND regexp_like(evt_args, 'O_WRONLY|O_RDWR') AND NOT regexp_like(evt_args, 'O_APPEND')))
  AND NOT (regexp_like(proc_name, {{rotators}})
           AND NOT (regexp_like(proc_name, '^(bash|zsh|sh)$') AND regexp_like(fd_name, {{logs}})))
  AND NOT regexp_like(coalesce(proc_pname, ''), {{rotator_parents}})
  AND NOT (evt_type IN ('unlink', 'unlinkat') AND regexp_like(fd_name, {{rotated}}))
ORDER BY event_time, seq;
