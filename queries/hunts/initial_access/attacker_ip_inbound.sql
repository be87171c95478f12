-- title: Inbound connections from addresses a shell connected out to
-- description: Pivots on the remote address of every outbound connection made by a shell,
--   interpreter or downloader to a public address (a reverse shell, a download) and lists every accepted
--   connection from that address on any host: how the attacker came in.
-- attack: T1190
-- severity: high
-- tags: network, pivot, initial_access
-- param: shells = 'sh,bash,dash,zsh,ksh,python,python3,perl,ruby,php,nc,ncat,socat,curl,wget'
WITH attacker AS (
  SELECT DISTINCT fd_sip AS ip
  FROM events
  WHERE evt_type = 'connect' AND fd_sip IS NOT NULL AND NOT is_private_ip(fd_sip)
    AND array_has(string_to_array({{shells}}, ','), proc_name)
)
SELECT e.seq, e.collector_id, e.event_time, e.proc_name, e.fd_cip AS remote_ip,
       e.fd_cport AS remote_port, e.fd_sip AS local_ip, e.fd_sport AS local_port
FROM attacker a JOIN events e ON e.fd_cip = a.ip
WHERE e.evt_type = 'accept'
ORDER BY e.event_time, e.seq;
