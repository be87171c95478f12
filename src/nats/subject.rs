//! NATS subject filters: matching (`*` one token, `>` the rest) and overlap between filters.
//!
//! Servers before 2.10 accept one filter per consumer and 2.10+ refuse overlapping
//! `filter_subjects`, so the replay stage needs to know, for a list of filters, whether the server
//! can apply them or the tool must filter on its own side.

/// True when `subject` matches `filter`.
pub fn matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// True when some subject matches both filters.
pub fn overlap(a: &str, b: &str) -> bool {
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        match (x.next(), y.next()) {
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (Some("*"), Some(_)) | (Some(_), Some("*")) => {}
            (Some(p), Some(q)) if p == q => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A filter is well formed: non-empty tokens, `>` only last, wildcards only as whole tokens.
pub fn valid_filter(f: &str) -> bool {
    let tokens: Vec<&str> = f.split('.').collect();
    tokens.iter().enumerate().all(|(i, t)| {
        !t.is_empty()
            && !t.contains(char::is_whitespace)
            && (*t == ">" && i == tokens.len() - 1 || *t == "*" || !t.contains(['*', '>']))
    })
}

/// True when no two filters in the list overlap.
pub fn disjoint(filters: &[String]) -> bool {
    filters
        .iter()
        .enumerate()
        .all(|(i, a)| filters[i + 1..].iter().all(|b| !overlap(a, b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        assert!(matches("events.sysdig.*", "events.sysdig.web-01"));
        assert!(!matches("events.sysdig.*", "events.sysdig.web-01.x"));
        assert!(matches("events.>", "events.sysdig.web-01.x"));
        assert!(!matches("events.>", "events"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.c"));
    }

    #[test]
    fn overlapping() {
        assert!(overlap("events.sysdig.*", "events.*.web-01"));
        assert!(!overlap("events.sysdig.web-01", "events.sysdig.db-01"));
        assert!(overlap("events.>", "events.sysdig.db-01"));
        assert!(!overlap("a.*", "a.b.c"));
        assert!(disjoint(&["a.b".into(), "a.c".into()]));
        assert!(!disjoint(&["a.*".into(), "a.c".into()]));
    }

    #[test]
    fn validity() {
        assert!(valid_filter("events.sysdig.*"));
        assert!(valid_filter(">"));
        assert!(!valid_filter("events..x"));
        assert!(!valid_filter("events.>.x"));
        assert!(!valid_filter("events.a*"));
        assert!(!valid_filter(""));
    }
}
