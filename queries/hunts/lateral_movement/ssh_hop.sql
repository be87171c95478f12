-- title: SSH from one monitored host to another
-- description: An outgoing connection to port 22 on one host matched to the accept of the same
--   socket (same client and server address and port) on another, within a tolerance that
--   absorbs clock skew between hosts. Both events' sequences are reported.
-- attack: T1021.004
-- severity: high
-- tags: lateral_movement, network, ssh
-- param: ssh_port = 22
-- param: skew_seconds = 30
SELECT c.seq, a.seq AS accept_seq, c.collector_id AS from_host, a.collector_id AS collector_id,
       c.event_time, a.event_time AS accepted_at, c.proc_name, c.proc_cmdline, c.proc_pcmdline,
       c.fd_cip AS client_ip, c.fd_cport AS client_port, c.fd_sip AS server_ip
FROM events c
JOIN events a
  ON a.evt_type = 'accept' AND a.fd_cip = c.fd_cip AND a.fd_cport = c.fd_cport
 AND a.fd_sip = c.fd_sip AND a.fd_sport = c.fd_sport AND a.collector_id <> c.collector_id
WHERE c.evt_type = 'connect' AND c.fd_sport = {{ssh_port}}
  AND abs(date_part('epoch', a.event_time) - date_part('epoch', c.event_time)) <= {{skew_seconds}}
ORDER BY c.event_time, c.seq;
