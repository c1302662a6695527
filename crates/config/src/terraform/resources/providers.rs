//! Provider configuration blocks Meridian reads: `aws` (its region places resources) and
//! `azurerm` (whose resources carry their own location).

use super::check_region;
use crate::terraform::schema::{OPEN, Schema, Ty, block, opt, optc};

static ASSUME_ROLE: Schema = Schema {
    attrs: &[
        opt("role_arn", Ty::Str),
        opt("session_name", Ty::Str),
        opt("external_id", Ty::Str),
        opt("duration", Ty::Str),
        opt("policy", Ty::Json),
        opt("policy_arns", Ty::SetStr),
        opt("tags", Ty::MapStr),
        opt("transitive_tag_keys", Ty::SetStr),
        opt("source_identity", Ty::Str),
    ],
    blocks: &[],
};
static WEB_IDENTITY: Schema = Schema {
    attrs: &[
        opt("role_arn", Ty::Str),
        opt("session_name", Ty::Str),
        opt("web_identity_token", Ty::Str),
        opt("web_identity_token_file", Ty::Str),
        opt("duration", Ty::Str),
        opt("policy", Ty::Json),
        opt("policy_arns", Ty::SetStr),
    ],
    blocks: &[],
};
static DEFAULT_TAGS: Schema = Schema {
    attrs: &[opt("tags", Ty::MapStr)],
    blocks: &[],
};
static IGNORE_TAGS: Schema = Schema {
    attrs: &[opt("keys", Ty::SetStr), opt("key_prefixes", Ty::SetStr)],
    blocks: &[],
};
static ANY: Schema = Schema {
    attrs: &[opt(OPEN, Ty::Any)],
    blocks: &[block(OPEN, &ANY)],
};

static AWS: Schema = Schema {
    attrs: &[
        optc("region", Ty::Str).check(check_region),
        opt("access_key", Ty::Str),
        opt("secret_key", Ty::Str),
        opt("token", Ty::Str),
        opt("profile", Ty::Str),
        opt("shared_config_files", Ty::ListStr),
        opt("shared_credentials_files", Ty::ListStr),
        opt("allowed_account_ids", Ty::SetStr),
        opt("forbidden_account_ids", Ty::SetStr),
        opt("custom_ca_bundle", Ty::Str),
        opt("ec2_metadata_service_endpoint", Ty::Str),
        opt("ec2_metadata_service_endpoint_mode", Ty::Str),
        opt("http_proxy", Ty::Str),
        opt("https_proxy", Ty::Str),
        opt("no_proxy", Ty::Str),
        opt("insecure", Ty::Bool),
        opt("max_retries", Ty::Int),
        opt("retry_mode", Ty::Str).one_of(&["standard", "adaptive"]),
        opt("s3_use_path_style", Ty::Bool),
        opt("s3_us_east_1_regional_endpoint", Ty::Str),
        opt("skip_credentials_validation", Ty::Bool),
        opt("skip_metadata_api_check", Ty::Str),
        opt("skip_region_validation", Ty::Bool),
        opt("skip_requesting_account_id", Ty::Bool),
        opt("sts_region", Ty::Str),
        opt("token_bucket_rate_limiter_capacity", Ty::Int),
        opt("use_dualstack_endpoint", Ty::Bool),
        opt("use_fips_endpoint", Ty::Bool),
    ],
    blocks: &[
        block("assume_role", &ASSUME_ROLE),
        block("assume_role_with_web_identity", &WEB_IDENTITY).max(1),
        block("default_tags", &DEFAULT_TAGS).max(1),
        block("endpoints", &ANY),
        block("ignore_tags", &IGNORE_TAGS).max(1),
    ],
};

static AZURERM: Schema = Schema {
    attrs: &[
        opt("subscription_id", Ty::Str),
        opt("tenant_id", Ty::Str),
        opt("client_id", Ty::Str),
        opt("client_id_file_path", Ty::Str),
        opt("client_secret", Ty::Str),
        opt("client_secret_file_path", Ty::Str),
        opt("client_certificate", Ty::Str),
        opt("client_certificate_path", Ty::Str),
        opt("client_certificate_password", Ty::Str),
        opt("environment", Ty::Str).one_of(&["public", "usgovernment", "china", "german"]),
        opt("metadata_host", Ty::Str),
        opt("auxiliary_tenant_ids", Ty::ListStr),
        opt("skip_provider_registration", Ty::Bool),
        opt("resource_provider_registrations", Ty::Str),
        opt("resource_providers_to_register", Ty::ListStr),
        opt("storage_use_azuread", Ty::Bool),
        opt("use_msi", Ty::Bool),
        opt("msi_endpoint", Ty::Str),
        opt("use_cli", Ty::Bool),
        opt("use_oidc", Ty::Bool),
        opt("use_aks_workload_identity", Ty::Bool),
        opt("oidc_token", Ty::Str),
        opt("oidc_token_file_path", Ty::Str),
        opt("oidc_request_url", Ty::Str),
        opt("oidc_request_token", Ty::Str),
        opt("ado_pipeline_service_connection_id", Ty::Str),
        opt("partner_id", Ty::Str),
        opt("disable_correlation_request_id", Ty::Bool),
        opt("disable_terraform_partner_id", Ty::Bool),
    ],
    blocks: &[block("features", &ANY).one()],
};

/// The schema of a provider's configuration block, for the providers Meridian serves.
pub fn schema(name: &str) -> Option<&'static Schema> {
    match name {
        "aws" => Some(&AWS),
        "azurerm" => Some(&AZURERM),
        _ => None,
    }
}
