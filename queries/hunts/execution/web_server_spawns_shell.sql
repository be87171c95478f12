-- title: Web server or application runtime running a shell
-- description: A shell, interpreter or downloader whose parent is a web server or PHP/Java
--   worker. Without execve events, lineage comes from the proc_p* fields of any event the child
--   caused (a file it opened, a socket it connected). The shells PHP and Java start by design
--   (sendmail for mail(), ImageMagick, git) are left out.
-- attack: T1059.004
-- severity: high
-- tags: web, execution
-- param: web_parents = '^(nginx|apache2|httpd|php-fpm[0-9.]*|php[0-9.]*|java|tomcat[0-9]*|node|uwsgi|gunicorn)$'
-- param: expected_children = '^(sh|/bin/sh)\s+-c\s+(/usr/sbin/sendmail|/usr/lib/sendmail|sendmail|msmtp|ssmtp|exim4?|postdrop|convert|magick|gs|ffmpeg|pdftotext|wkhtmltopdf|git|identify)\b'
-- param: children = '^(sh|bash|dash|zsh|ksh|python[0-9.]*|perl|ruby|nc|ncat|socat|curl|wget)$'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_ppid, proc_pname, fd_name
FROM events
WHERE regexp_like(proc_pname, {{web_parents}})
  AND regexp_like(proc_name, {{children}})
  AND NOT regexp_like(coalesce(proc_cmdline, ''), {{expected_children}})
ORDER BY event_time, seq;
