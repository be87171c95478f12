-- title: Cloud instance metadata reached by an unexpected program
-- description: A connection to the instance metadata service (169.254.169.254, the ECS task
--   endpoint 169.254.170.2, fd00:ec2::254) by a program that is not a cloud agent, or a command
--   line naming it (curl .../latest/meta-data/iam/security-credentials): stealing the instance's
--   role credentials.
-- attack: T1552.005
-- severity: high
-- tags: credential_access, cloud, network
-- param: addresses = '169.254.169.254', '169.254.170.2', 'fd00:ec2::254'
-- param: agents = '^(cloud-init|amazon-ssm-agen|ssm-agent-worke|ecs-agent|google_guest_ag|google_osconfig|waagent|walinuxagent|chronyd|aws-node|kubelet|node_exporter|amazon-cloudwat|ec2-instance-co|containerd|dockerd|datadog-agent|td-agent|fluent-bit|vector|telegraf)$'
-- param: cmdlines = '169\.254\.169\.254|169\.254\.170\.2|metadata\.google\.internal|fd00:ec2::254'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, fd_name
FROM events
WHERE ((evt_type IN ('connect', 'sendto') AND fd_sip IN ({{addresses}}))
       OR regexp_like(proc_cmdline, {{cmdlines}}))
  AND NOT regexp_like(proc_name, {{agents}})
ORDER BY event_time, seq;
