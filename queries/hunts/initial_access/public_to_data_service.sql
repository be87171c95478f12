-- title: Data or admin service reached from a public address
-- description: An accepted connection from a public address on a database, cache, message queue,
--   container or cluster port (Redis, MySQL, PostgreSQL, MongoDB, Elasticsearch, memcached,
--   Docker, kubelet, etcd, Consul): services exploited by mass-scanning botnets when exposed.
-- attack: T1190, T1133
-- severity: high
-- tags: initial_access, network
-- param: ports = 6379, 3306, 5432, 27017, 9200, 9300, 11211, 5984, 8500, 2375, 2376, 10250, 10255, 2379, 5672, 15672, 9092, 8086, 7001, 8088
SELECT seq, collector_id, event_time, proc_pid, proc_name, fd_cip AS remote_ip,
       fd_cport AS remote_port, fd_sport AS local_port
FROM events
WHERE evt_type IN ('accept', 'accept4') AND fd_sport IN ({{ports}})
  AND fd_cip IS NOT NULL AND NOT is_private_ip(fd_cip)
ORDER BY event_time, seq;
