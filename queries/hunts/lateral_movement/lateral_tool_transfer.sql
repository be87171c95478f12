-- title: Tools copied to another host, or non-interactive SSH with disabled checks
-- description: scp/rsync/sftp pushing a file from a temporary or hidden folder to another host,
--   and ssh or sshpass with host-key checking switched off or a password on the command line:
--   how intruders spread tools and move on without a prompt.
-- attack: T1570, T1021.004
-- severity: high
-- tags: lateral_movement, ssh
-- param: cmdlines = '\b(scp|rsync|sftp)\s+(.*\s)?/(tmp|var/tmp|dev/shm)/[^ ]*\s+\S+:|\b(scp|rsync)\s+(.*\s)?\S*/\.[^/ ]+\S*\s+\S+@\S+:|\bsshpass\s|StrictHostKeyChecking=(no|off)|UserKnownHostsFile=/dev/null'
-- param: managed = 'AnsiballZ_|ansible|salt-ssh|puppet|rundeck|jenkins|gitlab-runner|backup'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE regexp_like(proc_cmdline, {{cmdlines}})
  AND NOT regexp_like(coalesce(proc_pcmdline, '') || ' ' || coalesce(proc_pname, ''), {{managed}})
ORDER BY event_time, seq;
