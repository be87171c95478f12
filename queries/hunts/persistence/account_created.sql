-- title: Local account created or changed outside package and config management
-- description: Writes to /etc/passwd, /etc/shadow, /etc/group or /etc/gshadow, whether by
--   useradd and friends or by a shell redirect, when the writer's lineage is not a package
--   install or configuration management. A uid-0 duplicate (useradd -o -u 0) is in the command line.
-- attack: T1136.001, T1098
-- severity: high
-- tags: persistence, account
-- param: files = '^/etc/(passwd|shadow|group|gshadow|subuid|subgid)\+?$'
-- param: managed = 'AnsiballZ_|ansible|puppet|chef-client|chef-solo|salt-minion|salt-call|cfengine|cloud-init|/var/lib/dpkg/info/|dpkg|rpm|yum|dnf|apt-get|unattended-upgrade|systemd-sysusers|systemd-tmpfiles'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name
FROM events
WHERE regexp_like(fd_name, {{files}})
  AND (evt_type IN ('write', 'rename', 'renameat', 'renameat2')
       OR (evt_type IN ('open', 'openat', 'openat2', 'creat')
           AND regexp_like(evt_args, 'O_WRONLY|O_RDWR|O_CREAT|O_APPEND|O_TRUNC')))
  AND NOT regexp_like(coalesce(proc_cmdline, '') || ' ' || coalesce(proc_pcmdline, '') || ' ' || coalesce(proc_pname, ''), {{managed}})
ORDER BY event_time, seq;
