-- title: Outbound connections by process
-- description: Every program that connected to a public address, per host: how often, to how many
--   addresses and ports, first and last time. Context for the network hunts (severity info).
-- attack: T1071
-- severity: info
-- tags: triage, network
SELECT min(seq) AS seq, collector_id, proc_name, count(*) AS connections,
       count(DISTINCT fd_sip) AS addresses, array_agg(DISTINCT fd_sport) AS ports,
       min(event_time) AS event_time, max(event_time) AS last_seen
FROM events
WHERE evt_type = 'connect' AND fd_sip IS NOT NULL AND NOT is_private_ip(fd_sip)
GROUP BY collector_id, proc_name
ORDER BY 7;
