-- title: Disks or data wiped
-- description: Raw writes over block devices (dd of=/dev/sda, wipefs, blkdiscard, shred of a
--   device), rm -rf of the root or with --no-preserve-root, and shred of data and system folders.
--   Creating swap or image files with dd, and shredding temporary files, are not hits.
-- attack: T1485, T1561.001
-- severity: critical
-- tags: impact
-- param: cmdlines = '\bdd\s+(.*\s)?of=/dev/(sd[a-z]|nvme[0-9]|vd[a-z]|xvd[a-z]|hd[a-z]|mmcblk[0-9]|md[0-9]|dm-[0-9]|mapper/)|\b(wipefs\s+(-a|--all)|blkdiscard)\s+(.*\s)?/dev/|\bshred\s+(.*\s)?/dev/(sd|nvme|vd|xvd|hd|mmcblk)|\brm\s+(.*\s)?(-[a-zA-Z]*r[a-zA-Z]*f?|-[a-zA-Z]*f[a-zA-Z]*r)\s+(.*\s)?(/|/\*|--no-preserve-root)(\s|$)|--no-preserve-root|\bshred\s+(.*\s)?/(var/lib|home|srv|etc|boot|root|opt|data)/'
-- param: installers = '^(anaconda|subiquity|curtin|cloud-init|parted|growpart|kubeadm|dpkg|rpm)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name
FROM events
WHERE regexp_like(proc_cmdline, {{cmdlines}})
  AND NOT regexp_like(coalesce(proc_pname, ''), {{installers}})
ORDER BY event_time, seq;
