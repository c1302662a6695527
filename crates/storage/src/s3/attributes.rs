//! GetObjectAttributes (`GET ?attributes`): an object's ETag, checksum, parts, storage class
//! and size without its body.

use http::{Response, StatusCode};

use super::S3;
use super::api::{self, Body, Ctx, set};
use super::error::{Error, Result};
use super::xml::Writer;

const ATTRIBUTES: [&str; 5] = [
    "ETag",
    "Checksum",
    "ObjectParts",
    "StorageClass",
    "ObjectSize",
];

impl S3 {
    /// GetObjectAttributes.
    pub(crate) async fn object_attributes(
        &self,
        ctx: &mut Ctx,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>> {
        let asked: Vec<String> = ctx
            .header("x-amz-object-attributes")
            .unwrap_or("")
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if asked.is_empty() || asked.iter().any(|a| !ATTRIBUTES.contains(&a.as_str())) {
            return Err(Error::invalid_argument(
                "Invalid attribute name specified.",
                "x-amz-object-attributes",
                ctx.header("x-amz-object-attributes").unwrap_or(""),
            ));
        }
        let number = |name: &str, default: u32| -> Result<u32> {
            match ctx.header(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| {
                    Error::invalid_argument(format!("Invalid {name} value."), name, v)
                }),
            }
        };
        let max_parts = number("x-amz-max-parts", 1000)?.min(1000);
        let marker = number("x-amz-part-number-marker", 0)?;
        let customer = super::sse::customer_key(&ctx.headers, false)?;
        let (meta, _) = self
            .open_object(bucket, key, ctx.param("versionId"), false)
            .await?;
        super::sse::key_for_read(&self.sse_keys, meta.sse.as_ref(), customer.as_ref())?;
        let wants = |a: &str| asked.iter().any(|x| x == a);
        let mut w = Writer::new("GetObjectAttributesResponse");
        if wants("ETag") {
            w.elem("ETag", &meta.etag);
        }
        if wants("Checksum")
            && let Some(c) = &meta.checksum
        {
            // A composite checksum without its `-N`: the part count is ObjectParts'.
            let value = match c.kind {
                super::checksum::Kind::Composite => c
                    .value
                    .rsplit_once('-')
                    .map_or(c.value.as_str(), |(v, _)| v),
                super::checksum::Kind::FullObject => c.value.as_str(),
            };
            w.open("Checksum")
                .elem(c.algorithm.element(), value)
                .elem("ChecksumType", c.kind.as_str())
                .close("Checksum");
        }
        if wants("ObjectParts")
            && let Some(count) = meta.parts
        {
            w.open("ObjectParts")
                .elem("PartsCount", &count.to_string())
                .elem("PartNumberMarker", &marker.to_string())
                .elem("MaxParts", &max_parts.to_string());
            let algorithm = meta.checksum.as_ref().map(|c| c.algorithm);
            let listed: Vec<(u32, u64)> = meta
                .segments
                .iter()
                .enumerate()
                .map(|(i, s)| (i as u32 + 1, s.len))
                .filter(|(n, _)| *n > marker)
                .collect();
            let truncated = listed.len() > max_parts as usize;
            let page = &listed[..listed.len().min(max_parts as usize)];
            if let Some((last, _)) = page.last()
                && truncated
            {
                w.elem("NextPartNumberMarker", &last.to_string());
            }
            w.elem("IsTruncated", if truncated { "true" } else { "false" });
            for (n, size) in page {
                w.open("Part")
                    .elem("PartNumber", &n.to_string())
                    .elem("Size", &size.to_string());
                if let (Some(a), Some(c)) = (algorithm, meta.part_checksums.get(*n as usize - 1)) {
                    w.elem(a.element(), c);
                }
                w.close("Part");
            }
            w.close("ObjectParts");
        }
        if wants("StorageClass") {
            let class = meta
                .headers
                .standard
                .iter()
                .find(|(k, _)| k == "x-amz-storage-class")
                .map_or("STANDARD", |(_, v)| v.as_str());
            w.elem("StorageClass", class);
        }
        if wants("ObjectSize") {
            w.elem("ObjectSize", &meta.size.to_string());
        }
        let mut r = api::xml(StatusCode::OK, w.finish("GetObjectAttributesResponse"));
        set(
            r.headers_mut(),
            "last-modified",
            &super::http_date(meta.modified),
        );
        if let Some(v) = &meta.version_id {
            set(r.headers_mut(), "x-amz-version-id", v);
        }
        Ok(r)
    }
}
