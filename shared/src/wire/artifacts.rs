//! The artifact store the settings name.

use crate::artifacts::s3::S3Store;
use crate::wire::settings::{Env, BUCKET, S3_ENDPOINT};

/// S3 when `SLIPWAY_BUCKET` is set (`SLIPWAY_S3_ENDPOINT` for any S3-compatible endpoint).
pub fn s3_store(sdk: &aws_config::SdkConfig, env: &Env) -> Option<S3Store> {
    let bucket = env.get(BUCKET)?;
    Some(S3Store::connect(sdk, bucket, env.get(S3_ENDPOINT)))
}
