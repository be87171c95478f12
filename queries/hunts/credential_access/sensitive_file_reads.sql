-- title: Sensitive file read by an unexpected program
-- description: /etc/shadow, /etc/gshadow, sudoers backups and private SSH keys opened by a program
--   that is not one of the system's own readers (PAM helpers, sshd, passwd tools).
-- attack: T1003.008, T1552.004
-- severity: high
-- tags: credential_access, file
-- param: files = '^/etc/(g?shadow-?|security/opasswd)$|/\.ssh/id_[a-z0-9_]+$|/\.ssh/.*\.pem$'
-- param: expected = '^(unix_chkpwd|sshd|passwd|chpasswd|chage|useradd|usermod|login|su|sudo|systemd-logind|nscd|sssd|ssh-agent)$'
SELECT seq, collector_id, event_time, proc_pid, proc_name, proc_cmdline, proc_pname,
       proc_pcmdline, fd_name, user_name
FROM events
WHERE evt_type IN ('open', 'openat', 'openat2')
  AND regexp_like(fd_name, {{files}})
  AND NOT regexp_like(proc_name, {{expected}})
ORDER BY event_time, seq;
