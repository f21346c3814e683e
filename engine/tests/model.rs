//! Properties of the data model and its codecs, over arbitrary values (proptest).

use std::cmp::Ordering;

use ddbrep_engine::codec::{ddb_json, plain_json, stream_event};
use ddbrep_engine::model::{Item, Key, KeyPart, KeyValue, Map, Number, TableDescription, Value};
use ddbrep_engine::testing;
use proptest::prelude::*;

/// The same value with every set's members and every map's entries in another order.
fn shuffled(value: &Value, seed: u64) -> Value {
    fn rotate<T: Clone>(v: &[T], by: u64) -> Vec<T> {
        let mut out = v.to_vec();
        if !out.is_empty() {
            let n = (by as usize) % out.len();
            out.rotate_left(n);
            out.reverse();
        }
        out
    }
    match value {
        Value::Ss(s) => Value::Ss(rotate(s, seed)),
        Value::Ns(s) => Value::Ns(rotate(s, seed)),
        Value::Bs(s) => Value::Bs(rotate(s, seed)),
        Value::M(m) => {
            let entries: Vec<_> = m
                .iter()
                .map(|(k, v)| (k.clone(), shuffled(v, seed + 1)))
                .collect();
            Value::M(rotate(&entries, seed).into_iter().collect::<Map>())
        }
        Value::L(l) => Value::L(l.iter().map(|v| shuffled(v, seed + 1)).collect()),
        other => other.clone(),
    }
}

fn has_binary_or_set(v: &Value) -> bool {
    match v {
        Value::B(_) | Value::Ss(_) | Value::Ns(_) | Value::Bs(_) => true,
        Value::M(m) => m.values().any(has_binary_or_set),
        Value::L(l) => l.iter().any(has_binary_or_set),
        _ => false,
    }
}

/// Well-formed JSON shaped like an item whose values are often wrong: repeated names, every type tag, and
/// bodies of the right and wrong kinds (empty sets, bad numbers and base64, nested lists and maps).
fn item_shaped_text() -> impl Strategy<Value = String> {
    let tag = prop::sample::select(vec![
        "S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M", "X",
    ]);
    let body = prop::sample::select(vec![
        r#""a""#,
        r#""""#,
        r#""1""#,
        r#""-1.5e3""#,
        r#""1e500""#,
        r#""x""#,
        r#""AAE=""#,
        r#""!!""#,
        "true",
        "false",
        "1",
        "null",
        "[]",
        r#"["a"]"#,
        r#"["1","1"]"#,
        r#"["a","b"]"#,
        r#"["AAE="]"#,
        "{}",
        r#"[{"S":"a"}]"#,
        r#"[{"NULL":true}]"#,
        r#"{"x":{"N":"2"}}"#,
        r#"{"x":{"S":""}}"#,
        r#"{"N":"1"}"#,
    ]);
    let name = prop::sample::select(vec!["a", "b", ""]);
    let entry = (name, prop::collection::vec((tag, body), 0..3)).prop_map(|(name, typed)| {
        let typed: Vec<String> = typed.iter().map(|(t, b)| format!(r#""{t}":{b}"#)).collect();
        format!(r#""{name}":{{{}}}"#, typed.join(","))
    });
    prop::collection::vec(entry, 0..4).prop_map(|entries| format!("{{{}}}", entries.join(",")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dynamodb_json_round_trips_exactly(item in testing::item(6)) {
        let text = ddb_json::item_to_string(&item);
        let back = ddb_json::parse_item(&text).unwrap();
        prop_assert_eq!(&back, &item);
        // Byte for byte, attribute order included.
        prop_assert_eq!(ddb_json::item_to_string(&back), text);
    }

    #[test]
    fn plain_json_round_trips_up_to_its_projection(item in testing::item(6)) {
        let text = plain_json::item_to_string(&item);
        let back = plain_json::parse_item(&text).unwrap();
        let projected: Item = item.iter().map(|(k, v)| (k.clone(), plain_json::plain_projection(v))).collect();
        prop_assert_eq!(&back, &projected);
        if !item.iter().any(|(_, v)| has_binary_or_set(v)) {
            prop_assert_eq!(&back, &item);
        }
    }

    #[test]
    fn values_are_valid_and_survive_validation(v in testing::value()) {
        prop_assert!(v.validate(1).is_ok());
    }

    #[test]
    fn normalisation_is_idempotent(n in testing::number()) {
        let text = n.to_string();
        let again = Number::parse(&text).unwrap();
        prop_assert_eq!(&again, &n);
        prop_assert_eq!(again.to_string(), text);
    }

    #[test]
    fn any_spelling_of_a_number_normalises_to_one_value(
        neg in any::<bool>(), int in "[0-9]{0,19}", frac in "[0-9]{0,19}", exp in -30i32..30, zeros in 0usize..5
    ) {
        prop_assume!(!(int.is_empty() && frac.is_empty()));
        let sign = if neg { "-" } else { "" };
        let a = Number::parse(&format!("{sign}{}{int}.{frac}e{exp}", "0".repeat(zeros))).unwrap();
        // Move the decimal point: the same value written differently.
        let b = Number::parse(&format!("{sign}{int}{frac}{}e{}", "0".repeat(zeros), exp - frac.len() as i32 - zeros as i32)).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.cmp(&b), Ordering::Equal);
    }

    #[test]
    fn number_order_is_numeric(a in any::<i64>(), sa in 0u32..10, b in any::<i64>(), sb in 0u32..10) {
        // a / 10^sa against b / 10^sb, exactly, by cross-multiplying in i128 (|a|,|b| < 2^63, 10^9 < 2^30).
        let na = Number::parse(&scaled_text(a, sa)).unwrap();
        let nb = Number::parse(&scaled_text(b, sb)).unwrap();
        let lhs = i128::from(a) * 10i128.pow(sb);
        let rhs = i128::from(b) * 10i128.pow(sa);
        prop_assert_eq!(na.cmp(&nb), lhs.cmp(&rhs));
        prop_assert_eq!(na == nb, lhs == rhs);
    }

    #[test]
    fn canonical_equality_ignores_order_only(v in testing::value(), seed in any::<u64>(), w in testing::value()) {
        let s = shuffled(&v, seed);
        prop_assert_eq!(&v, &v.clone());                 // reflexive
        prop_assert_eq!(&s, &v);                          // order of sets and maps does not matter
        prop_assert_eq!(&v, &s);                          // symmetric
        prop_assert_eq!(&shuffled(&s, seed + 7), &v);     // transitive through another order
        // Equal values encode to the same canonical text once sorted; unequal ones never compare equal
        // through a shuffle.
        if v != w {
            prop_assert_ne!(&shuffled(&w, seed), &v);
        }
    }

    #[test]
    fn key_order_is_total_and_agrees_with_equality(
        a in testing::key_value(), b in testing::key_value(), c in testing::key_value()
    ) {
        prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
        let key = |v: &KeyValue, s: &KeyValue| Key {
            partition: KeyPart { name: "h".into(), value: v.clone() },
            sort: Some(KeyPart { name: "r".into(), value: s.clone() }),
        };
        let (ka, kb) = (key(&a, &b), key(&b, &a));
        prop_assert_eq!(ka.cmp(&kb) == Ordering::Equal, ka == kb);
        prop_assert_eq!(ka.cmp(&kb), kb.cmp(&ka).reverse());
    }

    #[test]
    fn key_values_of_one_type_sort_like_dynamodb(a in testing::key_value(), b in testing::key_value()) {
        match (&a, &b) {
            (KeyValue::S(x), KeyValue::S(y)) => prop_assert_eq!(a.cmp(&b), x.as_bytes().cmp(y.as_bytes())),
            (KeyValue::B(x), KeyValue::B(y)) => prop_assert_eq!(a.cmp(&b), x.cmp(y)),
            (KeyValue::N(x), KeyValue::N(y)) => prop_assert_eq!(a.cmp(&b), x.cmp(y)),
            _ => {}
        }
    }

    /// The emulator decodes request items with the streaming decoder and falls back to the tree
    /// (`serde_json::Value`, then `item_from_json`) only for its error: so whatever the streaming decoder
    /// accepts, the tree must accept too, as the same item.
    #[test]
    fn the_streaming_decoder_accepts_what_the_tree_decoder_does_as_the_same_item(item in testing::item(6)) {
        let text = ddb_json::item_to_string(&item);
        let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(ddb_json::item_from_json(&tree).unwrap(), ddb_json::parse_item(&text).unwrap());
    }

    #[test]
    fn the_streaming_decoder_accepts_nothing_the_tree_decoder_refuses(text in item_shaped_text()) {
        if let Ok(streamed) = ddb_json::parse_item(&text) {
            let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(ddb_json::item_from_json(&tree), Ok(streamed));
        }
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_text(text in any::<String>()) {
        let _ = ddb_json::parse_item(&text);
        let _ = ddb_json::parse_value(&text);
        let _ = plain_json::parse_item(&text);
        let _ = stream_event::parse_event(&text);
        let _ = TableDescription::parse_json(&text);
        let _ = Number::parse(&text);
        let schema = ddbrep_engine::model::KeySchema::partition_only("id", ddbrep_engine::model::ScalarType::B);
        let _ = plain_json::parse_key(&text, &schema);
    }

    #[test]
    fn decoders_never_panic_on_json_shaped_text(text in r#"[\[\]{}":,0-9a-zA-Z.eE+\- ]{0,64}"#) {
        let _ = ddb_json::parse_item(&text);
        let _ = plain_json::parse_item(&text);
        let _ = stream_event::parse_event(&text);
        let _ = Number::parse(&text);
    }

    #[test]
    fn item_size_counts_names_and_values(item in testing::item(6)) {
        let names: usize = item.iter().map(|(k, _)| k.len()).sum();
        prop_assert!(item.size() >= names);
        prop_assert_eq!(item.validate().is_ok(), item.size() <= ddbrep_engine::model::MAX_ITEM_SIZE);
    }
}

fn scaled_text(v: i64, scale: u32) -> String {
    format!("{v}e-{scale}")
}

#[test]
fn an_item_over_400_kb_is_refused() {
    let mut item = Item::new();
    item.insert("id", "x");
    // "id" + "x" + "blob" + the bytes: exactly 400 KB, which is allowed.
    item.insert("blob", Value::B(vec![0; 400 * 1024 - 2 - 1 - 4]));
    assert_eq!(item.size(), 400 * 1024);
    assert!(item.validate().is_ok());
    // One more attribute is one too many.
    item.insert("c", Value::Bool(true));
    let e = item.validate().unwrap_err();
    assert!(
        e.to_string()
            .contains("exceeds the maximum allowed size of 409600 bytes"),
        "{e}"
    );
}
