//! Properties of the expression language (proptest): printing a parsed condition gives text that parses to
//! the same tree; `#a = :v` agrees with canonical equality; ADD agrees with exact integer arithmetic; no
//! parser panics on arbitrary text.

use std::collections::BTreeMap;

use ddbrep_engine::expr::{self, ConditionKind, ExprContext};
use ddbrep_engine::model::{Item, KeySchema, Number, ScalarType, Value};
use ddbrep_engine::testing;
use proptest::prelude::*;

fn context() -> ExprContext {
    let names = BTreeMap::from([
        ("#n".to_owned(), "x.y".to_owned()),
        ("#m".to_owned(), "m".to_owned()),
    ]);
    let values = BTreeMap::from([
        (":v".to_owned(), Value::from(1)),
        (":w".to_owned(), Value::from(2)),
        (":s".to_owned(), Value::from("x")),
    ]);
    ExprContext::new(Some(names), Some(values)).expect("valid placeholders")
}

/// Condition text from a small grammar: valid or not, it exercises every construct.
fn condition_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("a = :v".to_owned()),
        Just("#n.b[2] <> :s".to_owned()),
        Just(":w >= c".to_owned()),
        Just("attribute_exists(#m.k)".to_owned()),
        Just("attribute_not_exists(z[0])".to_owned()),
        Just("begins_with(s, :s)".to_owned()),
        Just("contains(l, :v)".to_owned()),
        Just("size(l) > :v".to_owned()),
        Just("a BETWEEN :v AND :w".to_owned()),
        Just("a IN (:v, :w, b)".to_owned()),
        Just("attribute_type(a, :s)".to_owned()),
        Just("(a) < (:w)".to_owned()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.clone().prop_map(|a| format!("NOT {a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_printed_condition_parses_to_the_same_tree(text in condition_text()) {
        let mut ctx = context();
        if let Ok(parsed) = expr::parse_condition(&text, ConditionKind::Filter, &mut ctx) {
            let printed = parsed.to_string();
            let again = expr::parse_condition(&printed, ConditionKind::Filter, &mut ctx);
            prop_assert_eq!(again.as_ref(), Ok(&parsed), "{} printed as {}", text, printed);
        }
    }

    #[test]
    fn equality_agrees_with_canonical_equality(item in testing::item(4), value in testing::value(), pick in any::<usize>()) {
        // Attribute names are never empty in DynamoDB (an empty placeholder target counts as undefined).
        let names: Vec<String> = item.iter().map(|(k, _)| k.clone()).filter(|k| !k.is_empty()).collect();
        let name = if names.is_empty() { "absent".to_owned() } else { names[pick % names.len()].clone() };
        let own = item.get(&name).cloned();
        for candidate in [Some(value.clone()), own].into_iter().flatten() {
            let mut ctx = ExprContext::new(
                Some(BTreeMap::from([("#a".to_owned(), name.clone())])),
                Some(BTreeMap::from([(":v".to_owned(), candidate.clone())])),
            ).unwrap();
            let eq = expr::parse_condition("#a = :v", ConditionKind::Condition, &mut ctx).unwrap();
            let ne = expr::parse_condition("#a <> :v", ConditionKind::Condition, &mut ctx).unwrap();
            let expected = item.get(&name) == Some(&candidate);
            prop_assert_eq!(eq.evaluate(Some(&item)), expected);
            prop_assert_eq!(ne.evaluate(Some(&item)), !expected);
        }
    }

    #[test]
    fn add_of_numbers_agrees_with_exact_integer_arithmetic(a in any::<i64>(), b in any::<i64>(), scale in 0u32..20) {
        let shift = |x: i64| Number::parse(&format!("{x}e-{scale}")).unwrap();
        let mut item: Item = [("id", Value::from("k")), ("n", Value::N(shift(a)))].into_iter().collect();
        let mut ctx = ExprContext::new(None, Some(BTreeMap::from([(":d".to_owned(), Value::N(shift(b)))]))).unwrap();
        let update = expr::parse_update("ADD n :d SET m = n - :d", &mut ctx).unwrap();
        update.apply(&mut item, &KeySchema::partition_only("id", ScalarType::S)).unwrap();
        let Some(Value::N(sum)) = item.get("n") else { panic!("n is not a number") };
        let Some(Value::N(diff)) = item.get("m") else { panic!("m is not a number") };
        prop_assert_eq!(sum.scaled_integer(scale), Some(i128::from(a) + i128::from(b)));
        prop_assert_eq!(diff.scaled_integer(scale), Some(i128::from(a) - i128::from(b)));
    }

    #[test]
    fn no_parser_panics_on_arbitrary_text(text in prop_oneof![
        any::<String>(),
        "[a-z#:()\\[\\]0-9 ,.=<>+-]{0,60}",
        condition_text().prop_map(|t| t.replace(' ', "")),
    ]) {
        let schema = KeySchema::composite("a", ScalarType::N, "s", ScalarType::S);
        let item: Item = [("a", Value::from(1)), ("l", Value::L(vec![Value::from(1)]))].into_iter().collect();
        let mut ctx = context();
        if let Ok(c) = expr::parse_condition(&text, ConditionKind::Condition, &mut ctx) {
            c.evaluate(Some(&item));
        }
        if let Ok(u) = expr::parse_update(&text, &mut ctx) {
            let _ = u.apply(&mut item.clone(), &schema);
        }
        if let Ok(p) = expr::parse_projection(&text, &mut ctx) {
            p.apply(&item);
        }
        let _ = expr::parse_key_condition(&text, &schema, &mut ctx);
        let _ = ctx.check_all_used();
    }
}
