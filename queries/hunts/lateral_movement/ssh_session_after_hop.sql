-- title: First shell activity of an SSH session that came from a monitored host
-- description: Events of a shell whose parent is an sshd session process, on a host that
--   accepted an SSH connection from another monitored host shortly before.
-- attack: T1021.004
-- severity: medium
-- tags: lateral_movement, ssh
-- param: ssh_port = 22
-- param: window_seconds = 120
WITH hop AS (
  SELECT a.collector_id, a.event_time AS accepted_at
  FROM events a
  JOIN events c
    ON c.evt_type = 'connect' AND a.fd_cip = c.fd_cip AND a.fd_cport = c.fd_cport
   AND a.collector_id <> c.collector_id
  WHERE a.evt_type = 'accept' AND a.fd_sport = {{ssh_port}}
)
SELECT e.seq, e.collector_id, e.event_time, e.proc_pid, e.proc_name, e.proc_cmdline,
       e.proc_pcmdline, e.fd_name
FROM hop h JOIN events e ON e.collector_id = h.collector_id
WHERE e.proc_pname = 'sshd' AND e.proc_pcmdline LIKE 'sshd: %'
  AND regexp_like(e.proc_name, '^(sh|bash|dash|zsh|ksh)$')
  AND e.event_time >= h.accepted_at
  AND date_part('epoch', e.event_time) - date_part('epoch', h.accepted_at) <= {{window_seconds}}
ORDER BY e.event_time, e.seq;
