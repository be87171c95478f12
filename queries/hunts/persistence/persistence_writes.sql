-- title: Writes to persistence locations
-- description: Files created or written where programs start by themselves: cron tables and
--   at jobs, systemd units and timers, init and rc scripts, udev rules, shell start-up files,
--   authorized_keys, the dynamic loader's preload and search paths, PAM modules and their
--   configuration, apt hooks, kernel module autoload, XDG autostart and message-of-the-day scripts.
--   Package managers in their install phase and configuration management are left out by their
--   process lineage (never by host).
-- attack: T1053.003, T1053.006, T1543.002, T1098.004, T1546.004, T1037.004, T1546.017, T1574.006, T1556.003, T1547.006
-- severity: high
-- tags: persistence, file
-- param: paths = '^/etc/(cron\.(d|daily|hourly|weekly|monthly)/|crontab$|anacrontab$)|^/var/spool/(cron/|anacron/)|^/var/spool/at/|^/(etc|lib|usr/lib|usr/local/lib)/systemd/(system|user)/|/\.config/systemd/user/|^/etc/(init\.d|rc[0-6S]\.d|rc\.d)/|^/etc/rc\.local$|^/(etc|lib|usr/lib)/udev/rules\.d/|/\.ssh/authorized_keys2?$|/\.(bashrc|bash_profile|bash_login|bash_logout|profile|zshrc|zprofile|zshenv|kshrc|cshrc|tcshrc)$|^/etc/(profile|bash\.bashrc|bashrc|zsh/|environment$)|^/etc/profile\.d/|^/etc/ld\.so\.(preload|conf|conf\.d/)|^/etc/pam\.d/|/security/pam_[^/]+\.so$|^/etc/apt/apt\.conf\.d/|^/etc/(modules|modules-load\.d/)|^/etc/xdg/autostart/|/\.config/autostart/|^/etc/update-motd\.d/'
-- param: config_management = 'AnsiballZ_|ansible|puppet|chef-client|chef-solo|salt-minion|salt-call|cfengine|cf-agent|cloud-init'
-- param: package_managers = '^(dpkg|apt|apt-get|aptitude|unattended-upgr|rpm|rpmkeys|yum|dnf|microdnf|zypper|apk|snapd|packagekitd|ucf|ucfr|deb-systemd-hel|deb-systemd-inv|dpkg-trigger|dpkg-divert|dpkg-statoverri|update-alternati|systemd-sysv-in|install-info)$'
-- param: install_phase = '/var/lib/dpkg/info/[^ ]+\.(postinst|preinst|prerm|postrm)|/var/tmp/rpm-tmp\.|dpkg --(status-fd|configure|unpack|install)|rpm -(U|i)|unattended-upgrade'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name, evt_args
FROM events
WHERE regexp_like(fd_name, {{paths}})
  AND (evt_type IN ('write', 'rename', 'renameat', 'renameat2', 'symlink', 'symlinkat', 'link', 'linkat')
       OR (evt_type IN ('open', 'openat', 'openat2', 'creat')
           AND regexp_like(evt_args, 'O_WRONLY|O_RDWR|O_CREAT|O_APPEND|O_TRUNC')))
  AND NOT regexp_like(coalesce(proc_cmdline, '') || ' ' || coalesce(proc_pcmdline, ''), {{config_management}})
  AND NOT regexp_like(proc_name, {{package_managers}})
  AND NOT regexp_like(coalesce(proc_pname, ''), {{package_managers}})
  AND NOT regexp_like(coalesce(proc_pcmdline, ''), {{install_phase}})
ORDER BY event_time, seq;
