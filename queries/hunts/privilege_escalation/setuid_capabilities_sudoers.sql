-- title: Setuid bits, file capabilities and sudoers changed outside package and config management
-- description: chmod u+s / 4755-style setuid modes (setgid folders, g+s and 2775, are admin routine), setcap granting setuid, dac or admin
--   capabilities, a shell copied and made setuid, and writes to /etc/sudoers or /etc/sudoers.d by
--   anything but visudo, package managers and configuration management.
-- attack: T1548.001, T1548.003, T1222.002
-- severity: high
-- tags: privilege_escalation
-- param: cmdlines = '\bchmod\s+(.*\s)?([ua]+\+[rwxXt]*s|\+[rwxXt]*s|[46][0-7]{3})\s|\bsetcap\s+.*cap_(setuid|setgid|sys_admin|dac_override|dac_read_search|sys_ptrace|sys_module|chown|fowner)\b|\bcp\s+/(usr/)?bin/(ba|da|z)?sh\s+/(tmp|var/tmp|dev/shm)/'
-- param: sudoers = '^/etc/sudoers(\.d/.*)?$'
-- param: managed = 'AnsiballZ_|ansible|puppet|chef-client|chef-solo|salt-minion|salt-call|cfengine|cf-agent|/var/lib/dpkg/info/|dpkg|rpm|yum|dnf|apt|cloud-init'
-- param: sudoers_writers = '^(visudo|dpkg|rpm|yum|dnf|apt|apt-get|unattended-upgr)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name
FROM events
WHERE (regexp_like(proc_cmdline, {{cmdlines}})
       OR (regexp_like(fd_name, {{sudoers}}) AND NOT regexp_like(proc_name, {{sudoers_writers}})
           AND (evt_type = 'write' OR (evt_type IN ('open', 'openat', 'openat2')
                AND regexp_like(evt_args, 'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND')))))
  AND NOT regexp_like(coalesce(proc_cmdline, '') || ' ' || coalesce(proc_pcmdline, '') || ' ' || coalesce(proc_pname, ''), {{managed}})
ORDER BY event_time, seq;
