//! `bootstrap`: the Lambda custom-runtime executable (runtime `provided.al2023`). Reads the original's
//! environment once, then serves the Runtime API: each invocation's event goes to `ddbrep::handler`, its
//! partial batch response comes back, and one Embedded Metric Format line goes to stdout (CloudWatch Logs).

use ddbrep::drive::aws::Connection;
use ddbrep::drive::run::Clock;
use ddbrep::handler::env::Config;
use ddbrep::handler::Handler;
use ddbrep_engine::time::Millis;
use ddbrep_lambdas::{batch_deadline, handler_kind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_ansi(false)
        .without_time() // CloudWatch Logs stamps every line
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DDBREP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let env = |name: &str| std::env::var(name).ok();
    let setup = async {
        let kind = handler_kind(env)?;
        let config = Config::from_env(env).map_err(|e| e.to_string())?;
        Handler::new(kind, config, &Connection::default())
            .await
            .map_err(|e| e.to_string())
    };
    let handler = match setup.await {
        Ok(handler) => handler,
        Err(message) => {
            tracing::error!("cannot start: {message}");
            return Err(message.into());
        }
    };
    tracing::info!(handler = handler.kind().name(), "ready");
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let deadline = batch_deadline(Millis(event.context.deadline), Clock::start().now());
        match handler.invoke_text(event.payload.get(), Some(deadline)).await {
            Ok(outcome) => {
                println!("{}", outcome.emf(Clock::start().now()));
                Ok::<_, Error>(outcome.response())
            }
            Err(e) => {
                tracing::error!(handler = handler.kind().name(), "batch failed: {e}");
                Err(e.into())
            }
        }
    }))
    .await
}
