//! Expression text: no parser panics; whatever parses evaluates, applies and prints without panicking, and
//! a printed condition parses back to the same tree.
#![no_main]
use std::collections::BTreeMap;

use ddbrep_engine::expr::{self, ConditionKind, ExprContext};
use ddbrep_engine::model::{Item, KeySchema, ScalarType, Value};
use libfuzzer_sys::fuzz_target;

fn context() -> Option<ExprContext> {
    let names = BTreeMap::from([
        ("#n".to_owned(), "x.y".to_owned()),
        ("#a".to_owned(), "a".to_owned()),
    ]);
    let values = BTreeMap::from([
        (":v".to_owned(), Value::from(1)),
        (":s".to_owned(), Value::from("x")),
        (":l".to_owned(), Value::L(vec![Value::from(2)])),
        (":ss".to_owned(), Value::Ss(vec!["x".to_owned()])),
    ]);
    ExprContext::new(Some(names), Some(values)).ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(mut ctx) = context() else { return };
    let schema = KeySchema::composite("id", ScalarType::S, "sk", ScalarType::N);
    let item: Item = [
        ("id", Value::from("k")),
        ("a", Value::from(1)),
        ("l", Value::L(vec![Value::from(1), Value::from("x")])),
        ("s", Value::Ss(vec!["x".to_owned()])),
    ]
    .into_iter()
    .collect();
    if let Ok(c) = expr::parse_condition(text, ConditionKind::Condition, &mut ctx) {
        c.evaluate(Some(&item));
        c.evaluate(None);
        let printed = c.to_string();
        assert_eq!(
            expr::parse_condition(&printed, ConditionKind::Condition, &mut ctx).as_ref(),
            Ok(&c)
        );
    }
    if let Ok(u) = expr::parse_update(text, &mut ctx) {
        let mut copy = item.clone();
        if u.apply(&mut copy, &schema).is_ok() {
            assert!(copy.validate_values().is_ok());
        }
        let _ = u.to_string();
    }
    if let Ok(p) = expr::parse_projection(text, &mut ctx) {
        p.apply(&item);
    }
    let _ = expr::parse_key_condition(text, &schema, &mut ctx);
    let _ = ctx.check_all_used();
});
