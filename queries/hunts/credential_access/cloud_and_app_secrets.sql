-- title: Cloud, Kubernetes, CI and browser secrets read by an unexpected program
-- description: Service-account tokens, kubelet and cluster PKI, cloud CLI credentials, Docker and
--   Git credential stores, CI runner secrets, database password files and browser password
--   stores, opened by a program other than the one that owns them (or a backup agent).
-- attack: T1552.001, T1552.007, T1555
-- severity: high
-- tags: credential_access, cloud, kubernetes, file
-- param: files = '/var/run/secrets/kubernetes\.io/|^/run/secrets/|^/var/lib/kubelet/pki/|^/etc/kubernetes/(pki/|admin\.conf|.*kubelet\.conf)|/\.kube/config$|/\.aws/(credentials|config)$|/\.config/gcloud/(credentials|access_tokens|application_default)|/\.azure/(accessTokens|msal_token_cache)|/\.docker/config\.json$|/\.git-credentials$|/\.netrc$|/\.pgpass$|/\.my\.cnf$|/\.vault-token$|/var/lib/jenkins/(secrets/|credentials\.xml)|/\.gitlab-runner/|/etc/gitlab-runner/config\.toml$|/\.mozilla/firefox/.*/(logins\.json|key4\.db)$|/\.config/(google-chrome|chromium)/.*/(Login Data|Cookies)$|/\.local/share/keyrings/'
-- param: owners = '^(kubelet|kube-proxy|kube-apiserver|kube-controller|kube-scheduler|etcd|kubectl|helm|k9s|containerd|dockerd|docker|aws|gcloud|az|python[0-9.]*|git|git-remote-http|git-credential-|ssh|psql|mysql|mysqld|vault|java|gitlab-runner|firefox|chrome|chromium|gnome-keyring-d|seahorse|calico-node|coredns|cilium-agent|flanneld|aws-node|amazon-ssm-agen|google_guest_ag|waagent|cloud-init)$'
-- param: python_owners = 'aws|gcloud|az |azure|ansible|cloud-init|certbot|google_|kubectl'
-- param: agents = '^(restic|borg|duplicity|bacula-fd|rsnapshot|osqueryd|aide|tripwire)$'
SELECT seq, collector_id, event_time, proc_pid, proc_name, proc_cmdline, proc_pname,
       proc_pcmdline, fd_name
FROM events
WHERE evt_type IN ('open', 'openat', 'openat2')
  AND regexp_like(fd_name, {{files}})
  AND NOT (regexp_like(proc_name, {{owners}})
           AND (proc_name NOT LIKE 'python%' OR regexp_like(coalesce(proc_cmdline, ''), {{python_owners}})))
  AND NOT regexp_like(proc_name, {{agents}})
ORDER BY event_time, seq;
