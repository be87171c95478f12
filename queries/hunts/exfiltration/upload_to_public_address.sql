-- title: Upload to a public address
-- description: A file sent out: curl/wget with a file-upload option (-T, -F x=@file, --data*
--   @file, --post-file) to anything but a private address, or a transfer tool (scp, sftp, rsync,
--   nc, socat, ftp, rclone, cloud CLIs) holding a socket to a public address, outside backup jobs.
--   Plain fetches and inline-data pings (health checks) are not uploads.
-- attack: T1048, T1567, T1041
-- severity: high
-- tags: exfiltration, network
-- param: tools = '^(curl|wget|scp|sftp|rsync|nc|ncat|socat|ftp|lftp|rclone|aws|gsutil|azcopy|s3cmd|mc|megacmd|megaput|transfer)$'
-- param: transfer_tools = '^(scp|sftp|rsync|nc|ncat|socat|ftp|lftp|rclone|azcopy|s3cmd|megacmd|megaput)$'
-- param: upload_flags = '\s(-T|--upload-file)\s|\s(-F|--form)\s+\S*=@|\s(-d|--data|--data-binary|--data-raw|--data-urlencode)\s+@|\s--post-file[= ]|\s(cp|sync|mv)\s+\S+\s+(s3|gs|az)://|\bcopy\s+\S+\s+\S+:'
-- param: backup_jobs = '^(backup[-_.a-z0-9]*|restic|borg|duplicity|rsnapshot|bacula-fd|bareos-fd|amandad)$'
-- param: backup_cmdlines = 'backup|restic|borg|duplicity|rsnapshot'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, fd_name, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE regexp_like(proc_name, {{tools}})
  AND ((regexp_like(proc_name, {{transfer_tools}}) AND fd_sip IS NOT NULL AND NOT is_private_ip(fd_sip))
       OR (regexp_like(proc_cmdline, {{upload_flags}})
           AND NOT regexp_like(proc_cmdline, '(^|[\s@/])(10|127)\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.')))
  AND NOT regexp_like(coalesce(proc_pname, ''), {{backup_jobs}})
  AND NOT regexp_like(coalesce(proc_pcmdline, ''), {{backup_cmdlines}})
ORDER BY event_time, seq;
