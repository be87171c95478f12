-- title: Sensitive file read by an unexpected program
-- description: /etc/shadow, /etc/gshadow, sudoers backups and private SSH keys opened by a program
--   that is not one of their own readers (PAM helpers, sshd and the ssh client tools, passwd
--   tools) nor a backup or monitoring agent that reads the whole disk.
-- attack: T1003.008, T1552.004
-- severity: high
-- tags: credential_access, file
-- param: files = '^/etc/(g?shadow-?|security/opasswd)$|/\.ssh/id_[a-z0-9_]+$|/\.ssh/.*\.pem$'
-- param: expected = '^(unix_chkpwd|sshd|ssh|scp|sftp|ssh-add|ssh-agent|ssh-keygen|passwd|chpasswd|chage|useradd|usermod|userdel|login|su|sudo|systemd-logind|nscd|sssd|sssd_be|vipw|pwck|grpck|accounts-daemon)$'
-- param: agents = '^(restic|borg|borgbackup|duplicity|bacula-fd|bareos-fd|amandad|rsnapshot|tar|rsync|veeamagent|osqueryd|auditbeat|wazuh-syscheckd|ossec-syscheckd|aide|tripwire|rkhunter|debsums|falcon-sensor|lynis)$'
-- param: agent_parents = '^(restic|borg|duplicity|rsnapshot|backup[-_.a-z0-9]*|osqueryd|aide|rkhunter|lynis|wazuh-modulesd)$'
SELECT seq, collector_id, event_time, proc_pid, proc_name, proc_cmdline, proc_pname,
       proc_pcmdline, fd_name, user_name
FROM events
WHERE evt_type IN ('open', 'openat', 'openat2')
  AND regexp_like(fd_name, {{files}})
  AND NOT regexp_like(proc_name, {{expected}})
  AND NOT (regexp_like(proc_name, {{agents}}) AND (proc_name NOT IN ('tar', 'rsync')
           OR regexp_like(coalesce(proc_pname, ''), {{agent_parents}})))
ORDER BY event_time, seq;
