//! `hunt --coverage`: the hunts by ATT&CK technique, and the Linux techniques no hunt covers,
//! split into those the SysArmor fields could show (work to do) and those they cannot show at
//! all (and why), so a responder knows what silence from the pack does and does not mean.

use std::collections::BTreeMap;

use crate::rules::pack::Hunt;

/// Whether the SysArmor template (file and socket events with process fields; no execve, no
/// user, container or DNS fields) can show a technique.
enum Seen {
    Yes,
    No(&'static str),
}

const NO_EXEC: &str =
    "no execve/clone/setuid events and no user ids: identity changes leave no trace";

/// Linux techniques of ATT&CK (Enterprise) by tactic.
#[rustfmt::skip]
const CATALOGUE: &[(&str, &str, &str, Seen)] = &[
    ("initial-access", "T1190", "Exploit Public-Facing Application", Seen::Yes),
    ("initial-access", "T1133", "External Remote Services", Seen::Yes),
    ("initial-access", "T1078", "Valid Accounts", Seen::No("no authentication results or user fields: a valid login looks like any other")),
    ("initial-access", "T1195.002", "Compromise Software Supply Chain", Seen::Yes),
    ("execution", "T1059.004", "Unix Shell", Seen::Yes),
    ("execution", "T1059.006", "Python", Seen::Yes),
    ("execution", "T1059", "Command and Scripting Interpreter", Seen::Yes),
    ("execution", "T1053.003", "Cron", Seen::Yes),
    ("execution", "T1106", "Native API", Seen::No("only syscalls with a file descriptor are collected")),
    ("execution", "T1204.002", "User Execution: Malicious File", Seen::No("user intent is not in syscalls")),
    ("execution", "T1609", "Container Administration Command", Seen::Yes),
    ("persistence", "T1098.004", "SSH Authorized Keys", Seen::Yes),
    ("persistence", "T1098", "Account Manipulation", Seen::Yes),
    ("persistence", "T1136.001", "Create Account: Local Account", Seen::Yes),
    ("persistence", "T1543.002", "Systemd Service", Seen::Yes),
    ("persistence", "T1053.006", "Systemd Timers", Seen::Yes),
    ("persistence", "T1546.004", "Unix Shell Configuration Modification", Seen::Yes),
    ("persistence", "T1037.004", "RC Scripts", Seen::Yes),
    ("persistence", "T1505.003", "Web Shell", Seen::Yes),
    ("persistence", "T1546.017", "Udev Rules", Seen::Yes),
    ("persistence", "T1556.003", "Pluggable Authentication Modules", Seen::Yes),
    ("persistence", "T1547.006", "Kernel Modules and Extensions", Seen::Yes),
    ("privilege-escalation", "T1548.001", "Setuid and Setgid", Seen::Yes),
    ("privilege-escalation", "T1548.003", "Sudo and Sudo Caching", Seen::Yes),
    ("privilege-escalation", "T1574.006", "Dynamic Linker Hijacking", Seen::Yes),
    ("privilege-escalation", "T1611", "Escape to Host", Seen::Yes),
    ("privilege-escalation", "T1068", "Exploitation for Privilege Escalation", Seen::No(NO_EXEC)),
    ("privilege-escalation", "T1055", "Process Injection", Seen::No("ptrace, process_vm_writev and mmap carry no file descriptor; only /proc/PID/mem writes show")),
    ("privilege-escalation", "T1055.009", "Proc Memory", Seen::Yes),
    ("defense-evasion", "T1070.002", "Clear Linux or Mac System Logs", Seen::Yes),
    ("defense-evasion", "T1070.003", "Clear Command History", Seen::Yes),
    ("defense-evasion", "T1070.004", "File Deletion", Seen::Yes),
    ("defense-evasion", "T1070.006", "Timestomp", Seen::Yes),
    ("defense-evasion", "T1036", "Masquerading", Seen::Yes),
    ("defense-evasion", "T1036.005", "Match Legitimate Name or Location", Seen::Yes),
    ("defense-evasion", "T1564.001", "Hidden Files and Directories", Seen::Yes),
    ("defense-evasion", "T1562.001", "Disable or Modify Tools", Seen::Yes),
    ("defense-evasion", "T1562.004", "Disable or Modify System Firewall", Seen::Yes),
    ("defense-evasion", "T1562.012", "Disable or Modify Linux Audit System", Seen::Yes),
    ("defense-evasion", "T1222.002", "Linux File and Directory Permissions Modification", Seen::Yes),
    ("defense-evasion", "T1027", "Obfuscated Files or Information", Seen::Yes),
    ("defense-evasion", "T1140", "Deobfuscate/Decode Files or Information", Seen::Yes),
    ("defense-evasion", "T1014", "Rootkit", Seen::No("a kernel rootkit hides from the same syscall probes that feed the collector")),
    ("defense-evasion", "T1620", "Reflective Code Loading", Seen::No("in-memory loading needs mmap/memfd execution events the collector drops")),
    ("credential-access", "T1003.008", "/etc/passwd and /etc/shadow", Seen::Yes),
    ("credential-access", "T1003.007", "Proc Filesystem", Seen::Yes),
    ("credential-access", "T1552.001", "Credentials In Files", Seen::Yes),
    ("credential-access", "T1552.004", "Private Keys", Seen::Yes),
    ("credential-access", "T1552.005", "Cloud Instance Metadata API", Seen::Yes),
    ("credential-access", "T1552.007", "Container API", Seen::Yes),
    ("credential-access", "T1555", "Credentials from Password Stores", Seen::Yes),
    ("credential-access", "T1110", "Brute Force", Seen::No("authentication outcomes are not events: many accepts prove nothing")),
    ("credential-access", "T1056.001", "Keylogging", Seen::No("terminal reads are not collected with their data")),
    ("credential-access", "T1557", "Adversary-in-the-Middle", Seen::No("packet contents and ARP are outside syscall events")),
    ("discovery", "T1082", "System Information Discovery", Seen::Yes),
    ("discovery", "T1033", "System Owner/User Discovery", Seen::Yes),
    ("discovery", "T1087.001", "Local Account", Seen::Yes),
    ("discovery", "T1083", "File and Directory Discovery", Seen::Yes),
    ("discovery", "T1046", "Network Service Discovery", Seen::Yes),
    ("discovery", "T1057", "Process Discovery", Seen::Yes),
    ("discovery", "T1016", "System Network Configuration Discovery", Seen::Yes),
    ("discovery", "T1049", "System Network Connections Discovery", Seen::Yes),
    ("discovery", "T1613", "Container and Resource Discovery", Seen::Yes),
    ("lateral-movement", "T1021", "Remote Services", Seen::Yes),
    ("lateral-movement", "T1021.004", "SSH", Seen::Yes),
    ("lateral-movement", "T1570", "Lateral Tool Transfer", Seen::Yes),
    ("lateral-movement", "T1563.001", "SSH Hijacking", Seen::No("the agent socket's owner is a user id the template lacks")),
    ("collection", "T1005", "Data from Local System", Seen::Yes),
    ("collection", "T1213", "Data from Information Repositories", Seen::Yes),
    ("collection", "T1560.001", "Archive via Utility", Seen::Yes),
    ("collection", "T1074.001", "Local Data Staging", Seen::Yes),
    ("collection", "T1113", "Screen Capture", Seen::No("X11/Wayland traffic is not interpreted")),
    ("command-and-control", "T1090", "Proxy", Seen::Yes),
    ("command-and-control", "T1105", "Ingress Tool Transfer", Seen::Yes),
    ("command-and-control", "T1071.001", "Web Protocols", Seen::Yes),
    ("command-and-control", "T1572", "Protocol Tunneling", Seen::Yes),
    ("command-and-control", "T1571", "Non-Standard Port", Seen::Yes),
    ("command-and-control", "T1071.004", "DNS", Seen::No("no DNS names or payloads: only sockets to port 53")),
    ("command-and-control", "T1095", "Non-Application Layer Protocol", Seen::No("the template does not say TCP, UDP or ICMP")),
    ("exfiltration", "T1048", "Exfiltration Over Alternative Protocol", Seen::Yes),
    ("exfiltration", "T1567", "Exfiltration Over Web Service", Seen::Yes),
    ("exfiltration", "T1041", "Exfiltration Over C2 Channel", Seen::Yes),
    ("exfiltration", "T1030", "Data Transfer Size Limits", Seen::No("write sizes are not kept per transfer")),
    ("impact", "T1496", "Resource Hijacking", Seen::Yes),
    ("impact", "T1485", "Data Destruction", Seen::Yes),
    ("impact", "T1561.001", "Disk Content Wipe", Seen::Yes),
    ("impact", "T1486", "Data Encrypted for Impact", Seen::No("encryption is content: renames and writes alone do not tell it from a backup")),
];

/// True when `hunt_id` (a technique or sub-technique id) covers the catalogue's `id`: the same
/// id, or a sub-technique of it, or its parent technique named in the catalogue as such.
fn covers(hunt_id: &str, id: &str) -> bool {
    hunt_id == id || hunt_id.starts_with(&format!("{id}."))
}

/// The coverage table: hunts and their techniques, then each technique of the catalogue.
pub fn text(hunts: &[Hunt]) -> String {
    let width = hunts.iter().map(|h| h.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<width$}  {:<8}  techniques\n", "hunt", "severity");
    for h in hunts {
        out += &format!(
            "{:<width$}  {:<8}  {}\n",
            h.name,
            h.severity.as_str().to_string(),
            if h.attack.is_empty() {
                "-".to_string()
            } else {
                h.attack.join(", ")
            }
        );
    }
    let mut by_tactic: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let tactics: Vec<&str> = {
        let mut t: Vec<&str> = CATALOGUE.iter().map(|c| c.0).collect();
        t.dedup();
        t
    };
    let (mut covered, mut open, mut blind) = (0, 0, 0);
    for (tactic, id, name, seen) in CATALOGUE {
        let by: Vec<&str> = hunts
            .iter()
            .filter(|h| h.attack.iter().any(|a| covers(a, id)))
            .map(|h| h.name.as_str())
            .collect();
        let status = match (by.is_empty(), seen) {
            (false, _) => {
                covered += 1;
                format!("covered by {}", by.join(", "))
            }
            (true, Seen::Yes) => {
                open += 1;
                "not covered (the fields could show it)".to_string()
            }
            (true, Seen::No(why)) => {
                blind += 1;
                format!("cannot be shown: {why}")
            }
        };
        let t = tactics.iter().position(|t| t == tactic).unwrap_or(0);
        by_tactic
            .entry(t)
            .or_default()
            .push(format!("  {id:<10} {name:<52} {status}\n"));
    }
    out += "\nATT&CK techniques for Linux (Enterprise), by tactic\n";
    for (t, lines) in by_tactic {
        out += &format!("{}\n", tactics[t]);
        for l in lines {
            out += &l;
        }
    }
    out += &format!(
        "\n{covered} techniques covered, {open} visible but not covered, {blind} the SysArmor fields cannot show\n"
    );
    out
}

/// Technique ids of the catalogue (for tests: every hunt's ids are known).
pub fn known(id: &str) -> bool {
    CATALOGUE
        .iter()
        .any(|(_, c, _, _)| covers(id, c) || covers(c, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hunt_of_the_pack_maps_to_known_techniques() {
        let pack = crate::rules::pack::load(None).unwrap();
        for h in &pack {
            if h.severity == crate::rules::pack::Severity::Info {
                continue;
            }
            assert!(!h.attack.is_empty(), "{} has no ATT&CK id", h.name);
            for a in &h.attack {
                assert!(known(a), "{}: {a} is not in the catalogue", h.name);
            }
        }
        let t = text(&pack);
        assert!(t.contains("cannot be shown"), "{t}");
        assert!(t.contains("T1021.004"), "{t}");
    }
}
