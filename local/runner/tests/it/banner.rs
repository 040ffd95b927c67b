//! The runner's start-up banner, as its tests read it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Spawns `command` (a `serve` on a free port) and answers the child and
/// its base URL, read from the banner's storefront line. Its stdout is read
/// on to the end, so the runner never blocks on a full pipe.
pub fn serve(command: &mut Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let page = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("  storefront: ").map(str::to_owned))
        .expect("the banner names the storefront");
    std::thread::spawn(move || lines.for_each(drop));
    let base = page.strip_suffix("/shop/rods/muskie-casting-rod/").expect("the page's path").to_owned();
    (child, base)
}
