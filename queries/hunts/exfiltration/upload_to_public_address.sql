-- title: Upload to a public address
-- description: A transfer tool (curl, wget, scp, rsync, nc, ftp) with an upload option or a
--   socket to a public address. Backups to private addresses are left out.
-- attack: T1048, T1567
-- severity: high
-- tags: exfiltration, network
-- param: tools = '^(curl|wget|scp|sftp|rsync|nc|ncat|socat|ftp|rclone|aws|gsutil)$'
-- param: upload_flags = '\s(-T|--upload-file|-F|--form|-d|--data[a-z-]*|--post-file|--post-data)\s'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       fd_name, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE regexp_like(proc_name, {{tools}})
  AND ((fd_sip IS NOT NULL AND NOT is_private_ip(fd_sip))
       OR (regexp_like(proc_cmdline, {{upload_flags}}) AND NOT regexp_like(proc_cmdline, '(^|[\s@/])(10|127)\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.')))
ORDER BY event_time, seq;
