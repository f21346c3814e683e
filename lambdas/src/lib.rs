//! The `replicate` and `backup` Lambda handlers: the `bootstrap` binary (`src/main.rs`) serves the Lambda
//! Runtime API with `lambda_runtime` and hands each event to `ddbrep::handler`, which the CLI's
//! `invoke-handler` and the tests run too. This library holds what the binary decides on its own: which
//! handler `_HANDLER` names and the deadline it gives each batch.

use ddbrep::handler::HandlerKind;
use ddbrep_engine::time::Millis;

/// The handler a function runs: `DDBREP_HANDLER`, else `_HANDLER` (Lambda sets it from the function's
/// handler setting: `index.replicate` / `index.backup` for a function configured for the original).
pub fn handler_kind(get: impl Fn(&str) -> Option<String>) -> Result<HandlerKind, String> {
    let name = get("DDBREP_HANDLER").or_else(|| get("_HANDLER")).ok_or_else(|| {
        "no handler named: set the function's handler to index.replicate or index.backup".to_owned()
    })?;
    HandlerKind::parse(&name).ok_or_else(|| {
        format!("unknown handler {name:?}: expected replicate, backup, index.replicate or index.backup")
    })
}

/// The instant a batch stops retrying: the invocation's deadline less a margin (a tenth of the time left,
/// between 200 ms and 3 s), so the handler reports what it could not do instead of being cut off.
pub fn batch_deadline(invocation_deadline: Millis, now: Millis) -> Millis {
    let left = invocation_deadline.0.saturating_sub(now.0);
    let margin = (left / 10).clamp(200, 3_000);
    Millis(invocation_deadline.0.saturating_sub(margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_comes_from_the_functions_setting() {
        let env = |k: &str| (k == "_HANDLER").then(|| "index.backup".to_owned());
        assert_eq!(handler_kind(env), Ok(HandlerKind::Backup));
        assert!(handler_kind(|_| None).is_err());
        assert!(handler_kind(|_| Some("index.other".into()))
            .unwrap_err()
            .contains("index.other"));
    }

    #[test]
    fn the_deadline_leaves_a_margin() {
        assert_eq!(batch_deadline(Millis(60_000), Millis(0)), Millis(57_000));
        assert_eq!(batch_deadline(Millis(10_000), Millis(9_000)), Millis(9_800));
    }
}
