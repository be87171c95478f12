-- title: Secrets or system folders archived outside backup jobs
-- description: tar, zip, 7z, rar or gzip packing credential and configuration folders (/etc,
--   /root, home folders, .ssh, .aws, .kube, Kubernetes PKI, database folders, CI secrets) when
--   the archiver is not started by a backup job or agent.
-- attack: T1560.001, T1005
-- severity: high
-- tags: collection
-- param: archivers = '^(tar|zip|7z|7za|7zz|rar|gzip|bzip2|xz|zstd|pigz|cpio)$'
-- param: sources = '\s/(etc|root)/?(\s|$)|/etc/ssl/private|/\.(ssh|aws|kube|gnupg|docker|azure)\b|/etc/kubernetes|/var/lib/kubelet|/var/lib/(mysql|postgresql|mongodb|redis|jenkins)|/home/[^/ ]+/?(\s|$)|/etc/(shadow|passwd)'
-- param: backup_jobs = '^(backup[-_.a-z0-9]*|restic|borg|duplicity|rsnapshot|bacula-fd|bareos-fd|amandad|etckeeper|logrotate|dpkg|apt|unattended-upgr|cron|anacron|run-parts|sosreport|sos|mkinitramfs|update-initramfs)$'
-- param: backup_cmdlines = 'backup|restic|borg|duplicity|rsnapshot|etckeeper|sosreport|/etc/cron\.(daily|weekly|monthly)/'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name
FROM events
WHERE regexp_like(proc_name, {{archivers}})
  AND regexp_like(proc_cmdline, {{sources}})
  AND NOT regexp_like(coalesce(proc_pname, ''), {{backup_jobs}})
  AND NOT regexp_like(coalesce(proc_pcmdline, ''), {{backup_cmdlines}})
ORDER BY event_time, seq;
