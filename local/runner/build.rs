// `include_dir!` embeds storefront/; a changed page must rebuild the runner.
fn main() {
    println!("cargo:rerun-if-changed=../../storefront");
}
