//! Reusing the last build: the manifest's inputs hash matches and the zip on disk is intact.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::manifest::Manifest;

/// The previous manifest when it was built from `inputs_hash` and `zip` still has its bytes.
pub(crate) fn lookup(zip: &Path, manifest: &Path, inputs_hash: &str) -> Option<Manifest> {
    let previous: Manifest = crate::atomic_write::read_json(manifest)?;
    if previous.inputs_hash != inputs_hash {
        return None;
    }
    let mut file = std::fs::File::open(zip).ok()?;
    if file.metadata().ok()?.len() != previous.zip_bytes {
        return None;
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    (hex::encode(hasher.finalize()) == previous.sha256_hex).then_some(previous)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::manifest::sha256_pair;

    fn manifest(zip: &[u8], inputs: &str) -> Manifest {
        let (hex, b64) = sha256_pair(zip);
        Manifest {
            function: "f".into(),
            runtime: "nodejs22.x".into(),
            architecture: "x86_64".into(),
            sha256_hex: hex,
            sha256_base64: b64,
            zip_bytes: zip.len() as u64,
            unzipped_bytes: 0,
            file_count: 0,
            inputs_hash: inputs.into(),
            tool_version: "0".into(),
            source_date_epoch: 0,
            needs_s3_upload: false,
            dependencies: vec![],
            runtime_provided_excluded: vec![],
            platform_tags: vec![],
            bundler: None,
            bytecode: None,
        }
    }

    #[test]
    fn hit_only_when_inputs_and_zip_match() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("f.zip");
        let json = dir.path().join("f.json");
        assert!(lookup(&zip, &json, "in").is_none());
        std::fs::write(&zip, b"zip bytes").unwrap();
        std::fs::write(
            &json,
            serde_json::to_vec(&manifest(b"zip bytes", "in")).unwrap(),
        )
        .unwrap();
        assert!(lookup(&zip, &json, "in").is_some());
        assert!(lookup(&zip, &json, "other").is_none());
        std::fs::write(&zip, b"zip bytez").unwrap();
        assert!(
            lookup(&zip, &json, "in").is_none(),
            "same size, different bytes"
        );
        std::fs::write(&zip, b"zip").unwrap();
        assert!(lookup(&zip, &json, "in").is_none());
        std::fs::write(&json, b"{not json").unwrap();
        assert!(lookup(&zip, &json, "in").is_none());
    }
}
