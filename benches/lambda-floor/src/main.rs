//! A lambda_runtime hello-world: answers every event with a greeting. The
//! cold-start benchmark measures it, built like the functions (`cargo lambda
//! build --release`), as the floor the functions are compared with.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async { Ok::<_, Error>(json!({"hello": "world"})) })).await
}
