-- title: Container or namespace escape
-- description: Entering the host's namespaces (nsenter into pid 1, unshare with a user namespace
--   as root), mounting host disks or the host's root, chroot into a host mount, writes to cgroup
--   release_agent or notify_on_release, core_pattern or under /proc/*/root, and container runtime
--   sockets used by programs that are not the runtime's own clients.
-- attack: T1611, T1609
-- severity: critical
-- tags: privilege_escalation, container
-- param: cmdlines = '\bnsenter\s+(.*\s)?(-t\s*1\b|--target[= ]1\b)|\bunshare\s+(.*\s)?-[a-zA-Z]*r[a-zA-Z]*\b.*(sh|bash)\b|\bmount\s+(.*\s)?/dev/(sd[a-z]|nvme|xvd|vd[a-z]|dm-)[^ ]*\s|\bmount\s+(.*\s)?-o\s*bind\s+/\s|\bchroot\s+/(host|mnt|rootfs|hostfs)\b|docker\s+(.*\s)?run\s.*(-v\s*/:/|--privileged.*--pid[= ]host|--pid[= ]host.*--privileged)|release_agent|core_pattern|notify_on_release'
-- param: escape_files = '/release_agent$|/notify_on_release$|^/proc/sys/kernel/core_pattern$|^/proc/[0-9]+/root/|^/sys/kernel/uevent_helper$|^/proc/sysrq-trigger$'
-- param: sockets = '^/(var/)?run/(docker|containerd/containerd|crio/crio|podman/podman|k3s/containerd/containerd|dockershim)\.sock$'
-- param: runtime_clients = '^(docker|dockerd|docker-proxy|containerd|containerd-shim|ctr|crictl|nerdctl|podman|kubelet|k3s|cri-dockerd|buildkitd|portainer|cadvisor|node_exporter|datadog-agent|falco|sysdig|dockerd-current|runc|systemd|telegraf|promtail|fluent-bit)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name
FROM events
WHERE regexp_like(proc_cmdline, {{cmdlines}})
   OR (regexp_like(fd_name, {{escape_files}})
       AND (evt_type = 'write' OR (evt_type IN ('open', 'openat', 'openat2')
            AND regexp_like(evt_args, 'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC'))))
   OR (evt_type = 'connect' AND regexp_like(fd_name, {{sockets}})
       AND NOT regexp_like(proc_name, {{runtime_clients}}))
ORDER BY event_time, seq;
