-- title: Cryptocurrency miner
-- description: Known miner programs and command lines (xmrig, stratum+tcp URLs, pool and wallet
--   options) and connections to the mining pools' usual ports from programs that are not known
--   services on them.
-- attack: T1496
-- severity: critical
-- tags: impact, network
-- param: names = '^(xmrig|xmr-stak|minerd|cpuminer|ccminer|cgminer|bfgminer|ethminer|nbminer|t-rex|lolminer|kdevtmpfsi|kinsing|kthreaddi|phpguard|sysupdate|networkservice)$'
-- param: cmdlines = 'stratum\+(tcp|ssl|tls)://|--donate-level|\s-o\s+\S*(pool|xmr|monero|nanopool|minexmr|supportxmr|hashvault|2miners|f2pool)|--coin[= ](monero|xmr)|-a\s+(cryptonight|rx/0|randomx)'
-- param: pool_ports = 3333, 5555, 7777, 14433, 14444, 45560, 45700, 20580, 10128
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE regexp_like(proc_name, {{names}})
   OR regexp_like(proc_cmdline, {{cmdlines}})
   OR (evt_type = 'connect' AND fd_sip IS NOT NULL AND NOT is_private_ip(fd_sip)
       AND fd_sport IN ({{pool_ports}}) AND NOT regexp_like(proc_name, '^(java|node|python[0-9.]*|sh|bash|dash|nc|ncat|socat)$'))
ORDER BY event_time, seq;
