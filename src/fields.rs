//! The one field catalogue: every typed event column, the names a payload carries its value
//! under (the decoder reads those), and the names Falco conditions and Sigma rules use for
//! exactly that column. Fields a rule language derives from other columns (Falco's `proc.exe`
//! from the command line, `fd.rip` from the socket's direction, Sigma's `Image`) are not here:
//! their compilers build them, on top of these columns.
//!
//! Plain data, shared by `lake` (the decoder, held to it by a test in `lake::batch`) and `rules`
//! (the Falco and Sigma field maps read it), which may not import each other.

/// A column's SQL type, as the rule compilers compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
}

/// One typed column of the `events` table.
#[derive(Debug)]
pub struct Field {
    pub column: &'static str,
    pub kind: Kind,
    /// The names a payload may carry it under (sysdig templates, `sysdig -j`, Falco's
    /// `output_fields`); the first one present wins.
    pub sysdig: &'static [&'static str],
    /// Falco field names that mean this column as it is.
    pub falco: &'static [&'static str],
    /// Sigma field names (process, file and network events) that mean this column as it is.
    pub sigma: &'static [&'static str],
}

const fn field(
    column: &'static str,
    kind: Kind,
    sysdig: &'static [&'static str],
    falco: &'static [&'static str],
    sigma: &'static [&'static str],
) -> Field {
    Field {
        column,
        kind,
        sysdig,
        falco,
        sigma,
    }
}

use Kind::{Int, Text};

/// Every typed event column. `evt_type` and `evt_dir` are compared with Falco's own rules for
/// them (process events without execve, `<`/`>` directions), so Falco reads them elsewhere;
/// the socket columns come from `fd.name`'s tuple, not from a payload field of their own.
pub const FIELDS: &[Field] = &[
    field("evt_num", Int, &["evt.num"], &["evt.num"], &[]),
    field("evt_type", Text, &["evt.type"], &[], &[]),
    field("evt_dir", Text, &["evt.dir"], &[], &[]),
    field(
        "evt_args",
        Text,
        &["evt.args", "evt.info"],
        &["evt.args"],
        &[],
    ),
    field(
        "fd_name",
        Text,
        &["fd.name"],
        &["fd.name", "fd.nameraw"],
        &["TargetFilename"],
    ),
    field("fd_cip", Text, &[], &["fd.cip"], &["SourceIp"]),
    field("fd_cport", Int, &[], &["fd.cport"], &["SourcePort"]),
    field("fd_sip", Text, &[], &["fd.sip"], &["DestinationIp"]),
    field("fd_sport", Int, &[], &["fd.sport"], &["DestinationPort"]),
    field(
        "proc_pid",
        Int,
        &["proc.pid"],
        &["proc.pid"],
        &["ProcessId"],
    ),
    field(
        "proc_ppid",
        Int,
        &["proc.ppid"],
        &["proc.ppid"],
        &["ParentProcessId"],
    ),
    field("proc_name", Text, &["proc.name"], &["proc.name"], &[]),
    field(
        "proc_exepath",
        Text,
        &["proc.exepath", "proc.exe"],
        &["proc.exepath"],
        &[],
    ),
    field(
        "proc_cmdline",
        Text,
        &["proc.cmdline"],
        &["proc.cmdline"],
        &["CommandLine"],
    ),
    field("proc_pname", Text, &["proc.pname"], &["proc.pname"], &[]),
    field(
        "proc_pcmdline",
        Text,
        &["proc.pcmdline"],
        &["proc.pcmdline"],
        &["ParentCommandLine"],
    ),
    field("user_name", Text, &["user.name"], &["user.name"], &["User"]),
    field("user_uid", Int, &["user.uid"], &["user.uid"], &[]),
    field(
        "container_id",
        Text,
        &["container.id"],
        &["container.id"],
        &[],
    ),
];

/// The column a Falco field name means as it is.
pub fn falco(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.falco.contains(&name))
}

/// The column a Sigma field name means as it is.
pub fn sigma(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.sigma.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_columns_exist() {
        let columns: Vec<String> = crate::lake::batch::event_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for f in FIELDS {
            assert!(columns.iter().any(|c| c == f.column), "{}", f.column);
        }
        for names in [
            |f: &Field| f.sysdig,
            |f: &Field| f.falco,
            |f: &Field| f.sigma,
        ] {
            let all: Vec<&str> = FIELDS
                .iter()
                .flat_map(|f| names(f).iter().copied())
                .collect();
            let unique: std::collections::BTreeSet<&str> = all.iter().copied().collect();
            assert_eq!(all.len(), unique.len(), "a name means one column: {all:?}");
        }
        assert_eq!(falco("user.name").map(|f| f.column), Some("user_name"));
        assert_eq!(sigma("User").map(|f| f.column), Some("user_name"));
        assert!(falco("proc.exe").is_none(), "derived from the command line");
    }
}
