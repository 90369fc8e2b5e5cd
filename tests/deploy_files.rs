//! The shipped sample configuration and registry are what the docs say they are.

use std::path::Path;

#[test]
fn the_sample_config_documents_exactly_the_defaults_and_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = firegrid::Config::load(Some(&root.join("deploy/firegrid.toml")), Vec::new()).expect("parses");
    assert_eq!(file, firegrid::Config::default(), "deploy/firegrid.toml must list every key with its default");
    file.validate().expect("validates");
}

#[test]
fn the_sample_registry_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let paths = firegrid_ingest::RegistryPaths::in_dir(&root.join("deploy/registry"));
    let reg = firegrid_ingest::Registry::load(&paths).expect("sample registry loads");
    assert!(reg.device_count() > 1000);
}
