-- title: Container and cluster APIs reached by an unexpected program
-- description: Connections to the Docker API (2375/2376), the kubelet (10250/10255), etcd
--   (2379/2380) or a Kubernetes API server (6443) by a program that is not a cluster component or
--   client, and the plain-text Docker API accepting a connection from another address: an
--   unauthenticated Docker or kubelet API is a one-step path to the next host.
-- attack: T1021, T1609, T1613
-- severity: high
-- tags: lateral_movement, container, network
-- param: ports = 2375, 2376, 10250, 10255, 2379, 2380, 6443
-- param: plaintext_docker = 2375
-- param: clients = '^(docker|dockerd|containerd|kubelet|kubectl|kube-apiserver|kube-controller|kube-scheduler|kube-proxy|etcd|etcdctl|helm|k9s|k3s|calico-node|cilium-agent|coredns|metrics-server|prometheus|flanneld|kubeadm|argocd|flux|terraform|portainer|rancher|traefik|envoy|haproxy)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, fd_sip AS remote_ip, fd_sport AS remote_port
FROM events
WHERE (evt_type = 'connect' AND fd_sport IN ({{ports}})
       AND NOT regexp_like(proc_name, {{clients}}))
   OR (evt_type IN ('accept', 'accept4') AND fd_sport IN ({{plaintext_docker}})
       AND fd_cip IS NOT NULL AND fd_cip NOT IN ('127.0.0.1', '::1'))
ORDER BY event_time, seq;
