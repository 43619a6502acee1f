//! Function bundles: deterministic zips with manifests (see issue 4).
