-- title: One process connecting to many addresses or ports in a minute
-- description: A port or host sweep by connect(): one process (host, pid, program) reaching at
--   least min_targets distinct address:port pairs within one minute, outside monitoring and
--   service-mesh programs that do this by design.
-- attack: T1046
-- severity: high
-- tags: discovery, network
-- param: min_targets = 20
-- param: monitors = '^(prometheus|blackbox_export|node_exporter|nagios|icinga2|zabbix_agentd|zabbix_server|telegraf|datadog-agent|consul|envoy|haproxy|nginx|php-fpm[0-9.]*|java|kubelet|coredns|systemd-resolve|dnsmasq|unbound|chronyd|ntpd|sshd|mysqld|postgres|redis-server|mongod|kube-proxy|calico-node|cilium-agent)$'
-- Distinct targets are counted by grouping twice (process-minute and target, then
-- process-minute), not with count(DISTINCT …): both aggregations spill under --memory-limit,
-- where a distinct count holds every target of every process-minute in memory at once.
WITH targets AS (
  SELECT collector_id, proc_pid, proc_name, date_trunc('minute', event_time) AS minute, fd_sip, fd_sport
  FROM events
  WHERE evt_type = 'connect' AND fd_sip IS NOT NULL AND NOT regexp_like(proc_name, {{monitors}})
  GROUP BY collector_id, proc_pid, proc_name, date_trunc('minute', event_time), fd_sip, fd_sport
),
sweeps AS (
  SELECT collector_id, proc_pid, proc_name, minute
  FROM targets
  GROUP BY collector_id, proc_pid, proc_name, minute
  HAVING count(*) >= {{min_targets}}
)
SELECT e.seq, e.collector_id, e.event_time, e.proc_pid, e.proc_name, e.proc_cmdline,
       e.fd_sip AS remote_ip, e.fd_sport AS remote_port
FROM sweeps s
JOIN events e ON s.collector_id = e.collector_id AND s.proc_pid = e.proc_pid
 AND s.proc_name = e.proc_name AND s.minute = date_trunc('minute', e.event_time)
WHERE e.evt_type = 'connect'
ORDER BY e.event_time, e.seq;
