-- title: Tunnels and reverse proxies
-- description: Tunnelling tools (chisel, ngrok, frp, ligolo, gost, iodine, sshuttle...) and SSH
--   port forwarding to or from a remote host (ssh -R/-D, or -L to a public address): traffic
--   hidden inside another protocol, or an inbound path built from the inside.
-- attack: T1572, T1090
-- severity: high
-- tags: command_and_control, network
-- param: tools = '^(chisel|ngrok|frpc|frps|ligolo|ligolo-ng|gost|iodine|dnscat2?|sshuttle|rathole|bore|cloudflared|pinggy|localtonet|revsocks)$'
-- param: cmdlines = '\bchisel\s+(client|server)\b|\bngrok\s+(tcp|http|tls|start)\b|\bfrpc\b.*-c\s|ligolo|\bgost\s+-L|\bssh\s+(.*\s)?-[a-zA-Z]*[RD]\s*[0-9]|\bssh\s+.*-o\s*(Remote|Dynamic)Forward|\bsocat\s.*tcp[46]?-listen:[0-9]+.*\btcp[46]?:|\bbore\s+local\b|cloudflared\s+.*tunnel\s+--url'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, fd_name, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE regexp_like(proc_cmdline, {{cmdlines}})
   OR (regexp_like(proc_name, {{tools}}) AND evt_type = 'connect' AND fd_sip IS NOT NULL
       AND NOT is_private_ip(fd_sip))
ORDER BY event_time, seq;
