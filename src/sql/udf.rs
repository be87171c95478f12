//! SQL functions the hunts need, registered in every query session:
//!
//! - `is_private_ip(ip)`: true for addresses that never route on the internet (RFC 1918,
//!   loopback, link-local, CGNAT 100.64/10, IPv6 unique-local and link-local); NULL when the
//!   text is not an address.
//! - `cidr_match(ip, cidr)`: true when `ip` lies in `cidr` (`10.0.0.0/8`, `fd00::/8`, or a bare
//!   address); NULL when either side does not parse.
//! - `socket_part(tuple, part)`: one part of a sysdig socket tuple `cip:cport->sip:sport`
//!   (`part` is `cip`, `cport`, `sip` or `sport`), as text; NULL when the text is not a tuple.
//! - `evt_arg(args, name)`: one argument of a sysdig `evt.args` text (`fd=3(/etc/x) flags=1(O_RDONLY)`
//!   gives `3(/etc/x)` for `fd`), as text; NULL when the argument is absent.
//! - `evt_arg_int(args, name)`: the leading integer of that argument (`3` for `fd`, `-2` for
//!   `fd=-2(ENOENT)`); NULL when absent or not a number.
//!
//! - `payload_text(payload)`: raw bytes as text, unchanged where they are UTF-8 and each byte of
//!   an invalid sequence as `\xNN` ([`escape::bytes_text`]), for `LIKE` and for reading.
//!
//! They work on whole Arrow arrays (a literal argument is expanded once per batch), so a hunt
//! over millions of rows pays no per-row dispatch.

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_binary_array, as_string_array};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

use crate::escape;

/// Every function of this module.
pub fn all() -> [ScalarUDF; 6] {
    [
        payload_text_udf(),
        private_ip_udf(),
        cidr_udf(),
        socket_part_udf(),
        evt_arg_udf(),
        evt_arg_int_udf(),
    ]
}

/// True for addresses that are not routed on the internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// A network in CIDR notation, or one address.
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match text.trim().split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = text.trim().parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

/// True when `ip` is inside `net/len` (both of the same family).
pub fn in_cidr(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    let bits = |a: IpAddr| -> Option<u128> {
        match a {
            IpAddr::V4(v) => Some(u128::from(u32::from(v)) << 96),
            IpAddr::V6(v) => Some(u128::from(v)),
        }
    };
    if ip.is_ipv4() != net.is_ipv4() {
        return false;
    }
    let len = if ip.is_ipv4() { len } else { len.min(128) };
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    matches!((bits(ip), bits(net)), (Some(a), Some(b)) if a & mask == b & mask)
}

/// Splits `cip:cport->sip:sport` (IPv6 addresses may be bracketed) into its four parts.
pub fn split_tuple(tuple: &str) -> Option<[&str; 4]> {
    fn side(s: &str) -> Option<(&str, &str)> {
        let (ip, port) = s.rsplit_once(':')?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        (!ip.is_empty() && port.parse::<u16>().is_ok()).then_some((ip, port))
    }
    let (client, server) = tuple.split_once("->")?;
    let (cip, cport) = side(client)?;
    let (sip, sport) = side(server)?;
    Some([cip, cport, sip, sport])
}

/// The value of argument `name` in a sysdig `evt.args` text: it starts after `name=` at the
/// start or after a space, and runs to the next ` key=` (a value may contain spaces).
pub fn evt_arg<'a>(args: &'a str, name: &str) -> Option<&'a str> {
    let is_key = |k: &str| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    let key = format!("{name}=");
    let start = args
        .match_indices(&key)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || args.as_bytes()[i - 1] == b' ')?
        + key.len();
    let value = &args[start..];
    // The next ` key=` ends the value.
    let mut end = value.len();
    let mut search = 0;
    while let Some(sp) = value[search..].find(' ') {
        let word_start = search + sp + 1;
        let word = &value[word_start..];
        if let Some(eq) = word.find('=') {
            if is_key(&word[..eq]) && !word[..eq].contains(' ') {
                end = search + sp;
                break;
            }
        }
        search = word_start;
    }
    Some(&value[..end])
}

/// The leading integer of a sysdig argument value (`-2` of `-2(ENOENT)`).
pub fn leading_int(value: &str) -> Option<i64> {
    let digits = value
        .char_indices()
        .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
        .count();
    value[..digits].parse().ok()
}

fn strings(args: &[ColumnarValue]) -> DfResult<Vec<ArrayRef>> {
    ColumnarValue::values_to_arrays(args)
}

fn payload_text_udf() -> ScalarUDF {
    create_udf(
        "payload_text",
        vec![DataType::Binary],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = strings(args)?;
            let bytes = as_binary_array(&arrays[0])?;
            let out: StringArray = bytes.iter().map(|v| v.map(escape::bytes_text)).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn private_ip_udf() -> ScalarUDF {
    create_udf(
        "is_private_ip",
        vec![DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = strings(args)?;
            let ips = as_string_array(&arrays[0])?;
            let out: BooleanArray = ips
                .iter()
                .map(|v| {
                    v.and_then(|s| s.trim().parse::<IpAddr>().ok())
                        .map(is_private)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// A function of two text arguments: `build` makes the result array from both argument arrays
/// (a literal argument is expanded once per batch).
fn text_pair_udf(
    name: &str,
    returns: DataType,
    build: fn(&StringArray, &StringArray) -> ArrayRef,
) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8, DataType::Utf8],
        returns,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = strings(args)?;
            let (a, b) = (as_string_array(&arrays[0])?, as_string_array(&arrays[1])?);
            Ok(ColumnarValue::Array(build(a, b)))
        }),
    )
}

/// The rows of two text arrays as pairs; `None` where either is NULL.
fn pairs<'a>(
    a: &'a StringArray,
    b: &'a StringArray,
) -> impl Iterator<Item = Option<(&'a str, &'a str)>> + 'a {
    a.iter().zip(b.iter()).map(|(x, y)| x.zip(y))
}

fn cidr_udf() -> ScalarUDF {
    text_pair_udf("cidr_match", DataType::Boolean, |ips, nets| {
        let out: BooleanArray = pairs(ips, nets)
            .map(|row| {
                let (ip, net) = row?;
                let ip = ip.trim().parse::<IpAddr>().ok()?;
                Some(in_cidr(ip, parse_cidr(net)?))
            })
            .collect();
        Arc::new(out)
    })
}

/// One part (`cip`, `cport`, `sip`, `sport`) of a socket tuple.
fn socket_part<'a>(tuple: &'a str, part: &str) -> Option<&'a str> {
    let index = match part {
        "cip" => 0,
        "cport" => 1,
        "sip" => 2,
        "sport" => 3,
        _ => return None,
    };
    split_tuple(tuple).map(|parts| parts[index])
}

fn socket_part_udf() -> ScalarUDF {
    text_pair_udf("socket_part", DataType::Utf8, |tuples, parts| {
        let out: StringArray = pairs(tuples, parts)
            .map(|row| row.and_then(|(t, p)| socket_part(t, p)))
            .collect();
        Arc::new(out)
    })
}

fn evt_arg_udf() -> ScalarUDF {
    text_pair_udf("evt_arg", DataType::Utf8, |args, names| {
        let out: StringArray = pairs(args, names)
            .map(|row| row.and_then(|(a, n)| evt_arg(a, n)))
            .collect();
        Arc::new(out)
    })
}

fn evt_arg_int_udf() -> ScalarUDF {
    text_pair_udf("evt_arg_int", DataType::Int64, |args, names| {
        let out: Int64Array = pairs(args, names)
            .map(|row| row.and_then(|(a, n)| evt_arg(a, n)).and_then(leading_int))
            .collect();
        Arc::new(out)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sysdig_arguments() {
        let a =
            "fd=3(/etc/my file) dirfd=-100(AT_FDCWD) name=/etc/my file flags=1(O_RDONLY) mode=0";
        assert_eq!(evt_arg(a, "fd"), Some("3(/etc/my file)"));
        assert_eq!(evt_arg(a, "name"), Some("/etc/my file"));
        assert_eq!(evt_arg(a, "flags"), Some("1(O_RDONLY)"));
        assert_eq!(evt_arg(a, "mode"), Some("0"));
        assert_eq!(evt_arg(a, "dirfd").and_then(leading_int), Some(-100));
        assert_eq!(evt_arg(a, "res"), None);
        assert_eq!(evt_arg("res=0 data=a=b", "data"), Some("a=b"));
        assert_eq!(evt_arg("res=0 data=x fd=2", "fd"), Some("2"));
        assert_eq!(evt_arg("xres=5", "res"), None);
        assert_eq!(
            evt_arg("fd=-2(ENOENT)", "fd").and_then(leading_int),
            Some(-2)
        );
        assert_eq!(leading_int("-"), None);
        assert_eq!(evt_arg("", "fd"), None);
    }

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_addresses() {
        for p in [
            "10.0.2.30",
            "192.168.1.1",
            "172.16.0.1",
            "127.0.0.1",
            "100.64.0.1",
            "fd00::1",
            "::1",
            "fe80::1",
            "::ffff:10.1.2.3",
        ] {
            assert!(is_private(ip(p)), "{p}");
        }
        for p in [
            "203.0.113.66",
            "198.51.100.23",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_private(ip(p)), "{p}");
        }
    }

    #[test]
    fn cidr() {
        assert!(in_cidr(ip("10.0.2.30"), parse_cidr("10.0.0.0/8").unwrap()));
        assert!(!in_cidr(ip("11.0.2.30"), parse_cidr("10.0.0.0/8").unwrap()));
        assert!(in_cidr(
            ip("203.0.113.66"),
            parse_cidr("203.0.113.66").unwrap()
        ));
        assert!(in_cidr(ip("1.2.3.4"), parse_cidr("0.0.0.0/0").unwrap()));
        assert!(in_cidr(ip("fd12::5"), parse_cidr("fd00::/8").unwrap()));
        assert!(!in_cidr(ip("10.0.0.1"), parse_cidr("fd00::/8").unwrap()));
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
        assert_eq!(parse_cidr("nonsense"), None);
    }

    #[test]
    fn tuples() {
        assert_eq!(
            split_tuple("10.0.1.10:40522->203.0.113.66:4444"),
            Some(["10.0.1.10", "40522", "203.0.113.66", "4444"])
        );
        assert_eq!(
            split_tuple("[fd00::1]:5000->[fd00::2]:22"),
            Some(["fd00::1", "5000", "fd00::2", "22"])
        );
        assert_eq!(split_tuple("/run/mysqld/mysqld.sock"), None);
        assert_eq!(split_tuple("a:b->c:d"), None);
    }
}
