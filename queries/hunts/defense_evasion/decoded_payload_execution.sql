-- title: Encoded payload decoded and run
-- description: A command line that decodes base64, hex or an encrypted blob and hands the result
--   to a shell or interpreter (base64 -d | sh, exec(base64.b64decode(...)), eval "$(... | base64
--   -d)", xxd -r -p | sh, openssl enc -d | sh): payloads hidden from command-line review.
--   Decoding into a file (certificates, keys) is not a hit.
-- attack: T1027, T1140
-- severity: high
-- tags: defense_evasion, execution
-- param: cmdlines = '\bbase(64|32)\s+(-d|--decode|-D)\b[^|]*\|\s*(sudo\s+)?(/usr/bin/|/bin/)?((ba|da|z|k)?sh|python[0-9.]*|perl|ruby|php)\b|b64decode\(.*\b(exec|eval|system|popen|subprocess)|\b(exec|eval)\s*\(\s*(base64\.)?b64decode|eval\s+"?\$\(.*base(64|32)\s+(-d|--decode)|\bxxd\s+-r\s+-p\b[^|]*\|\s*(ba|da)?sh\b|\bopenssl\s+(enc|base64)\s+.*-d\b[^|]*\|\s*(ba|da)?sh\b|\bprintf\s+.*\\x[0-9a-f]{2}.*\|\s*(ba|da)?sh\b|FromBase64String'
SELECT seq, collector_id, event_time, evt_type, proc_pid, proc_name, proc_cmdline,
       proc_pname, proc_pcmdline, fd_name
FROM events
WHERE regexp_like(proc_cmdline, {{cmdlines}})
ORDER BY event_time, seq;
