//! Property tests of the decoder: arbitrary bytes never panic and always give exactly one row;
//! SysArmor templates broken by unescaped characters give their fields back.

use jsreplay::lake::batch::BatchBuilder;
use jsreplay::lake::decode::{decode, Status};
use jsreplay::message::RawMessage;
use proptest::prelude::*;

fn template_with(cmdline: &str, args: &str) -> String {
    format!(
        "{{\"event\":{{\"evt.num\":\"12\",\"evt.time\":\"2025-07-10T02:16:41.512093817+0000\",\"evt.type\":\"openat\",\"evt.args\":\"{args}\",\"fd.name\":\"/etc/passwd\",\"proc.pid\":\"4242\",\"proc.name\":\"sh\",\"proc.cmdline\":\"{cmdline}\",\"proc.ppid\":\"1\",\"proc.pname\":\"init\",\"proc.pcmdline\":\"init\"}}}}"
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_make_one_row(payload in proptest::collection::vec(any::<u8>(), 0..600)) {
        let d = decode(&payload);
        prop_assert!(d.status != Status::Ok || d.error.is_none());
        let mut b = BatchBuilder::new();
        b.append("S", &RawMessage { stream_seq: 7, subject: "events.sysdig.x".into(), time_ns: 1, headers: None, payload: payload.clone().into() });
        let batch = b.finish();
        prop_assert_eq!(batch.num_rows(), 1);
    }

    #[test]
    fn json_like_bytes_make_one_row(s in "[\\{\\}\\[\\]\":,a-z0-9.\\\\ ]{0,200}") {
        let _ = decode(s.as_bytes());
    }

    #[test]
    fn broken_templates_keep_their_fields(cmdline in "[a-zA-Z0-9 \"'<>&|;=\n\t/.-]{0,60}", args in "[a-z0-9 =\"\n]{0,30}") {
        let text = template_with(&cmdline, &args);
        let d = decode(text.as_bytes());
        prop_assert!(matches!(d.status, Status::Ok | Status::Repaired), "{:?}", d);
        prop_assert_eq!(d.event.proc_cmdline.as_deref(), Some(cmdline.as_str()));
        prop_assert_eq!(d.event.evt_args.as_deref(), Some(args.as_str()));
        prop_assert_eq!(d.event.proc_pid, Some(4242));
        prop_assert_eq!(d.event.proc_pcmdline.as_deref(), Some("init"));
        prop_assert_eq!(d.event.event_time_ns, Some(1_752_113_801_512_093_817));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Header blocks as a publisher may store them (read back through `STREAM.MSG.GET`): any
    /// bytes give valid JSON or nothing, never a panic.
    #[test]
    fn any_header_block_is_json(block in proptest::collection::vec(any::<u8>(), 0..400),
                                prefix in prop_oneof![Just(b"NATS/1.0".to_vec()), Just(b"NATS/1.0 100 Idle Heartbeat\r\n".to_vec()), Just(Vec::new())]) {
        let mut bytes = prefix;
        bytes.extend_from_slice(&block);
        if let Some(json) = jsreplay::nats::reply::header_block_json(&bytes) {
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            prop_assert!(v.is_object());
        }
    }

    /// Sigma rule text from elsewhere: any YAML-ish input compiles or is reported unsupported;
    /// what compiles is a hunt file the pack parser reads back with the same SQL.
    #[test]
    fn any_sigma_text_compiles_or_is_refused(title in "[ -~\n\t]{0,40}", field in "[A-Za-z|]{1,20}", value in "[ -~\n]{0,30}") {
        let rule = format!(
            "title: {title:?}\nlogsource: {{product: linux, category: process_creation}}\ndetection:\n  sel:\n    {field}: {value:?}\n  condition: sel\n"
        );
        if let Ok(h) = jsreplay::rules::sigma::compile("x", &rule, jsreplay::rules::pack::ProcessEvents::Any) {
            let file = jsreplay::rules::pack::hunt_file(&h);
            let again = jsreplay::rules::pack::parse("x", &file).unwrap();
            prop_assert_eq!(again.sql.trim(), h.sql.trim());
        }
    }

    /// Falco rule text from elsewhere: any condition and output compile or are refused with a
    /// reason (never a panic), and what compiles is a hunt file the pack parser reads back.
    #[test]
    fn any_falco_text_compiles_or_is_refused(cond in "[ -~]{0,60}", output in "[ -~\n]{0,40}", name in "[ -~]{1,30}") {
        let rules = format!(
            "- macro: m\n  condition: proc.name = x\n- list: l\n  items: [a, \"b\"]\n- rule: {name:?}\n  desc: d\n  condition: {cond:?}\n  output: {output:?}\n  priority: ERROR\n"
        );
        let c = jsreplay::rules::falco::compile_texts(&[("f.yaml".into(), rules)], &Default::default());
        prop_assert_eq!(c.hunts.len() + c.unsupported.len(), 1);
        for h in &c.hunts {
            let file = jsreplay::rules::pack::hunt_file(h);
            let again = jsreplay::rules::pack::parse("x", &file).unwrap();
            prop_assert_eq!(again.sql.trim(), h.sql.trim());
            prop_assert!(!h.sql.contains("{{"));
        }
    }
}
