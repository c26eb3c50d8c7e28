# Secrets Manager entries for what Lectern must keep secret. Terraform creates the containers
# only; the values are put out of band (README: "Deploy to AWS"), so no secret ever passes
# through a Terraform variable, a plan or the state.

locals {
  # The setting each service receives -> the secret's short name. The *_FILE settings name files
  # that the ecs_service module's init container writes from the secret.
  key_secrets = {
    DATABASE_URL                 = "database-url"
    LECTERN_CDN_KEY_FILE         = "cdn-signing-key"
    LECTERN_TOKEN_KEY_FILE       = "token-signing-key"
    LECTERN_CERTIFICATE_KEY_FILE = "certificate-signing-key"
    # Encrypts webhook signing secrets in the database: serve seals, workers open, so both
    # must have the same key.
    LECTERN_WEBHOOK_KEY_FILE = "webhook-secret-key"
  }
  provider_secrets = { for env in var.provider_secret_names : env => lower(replace(env, "_", "-")) }
  all              = merge(local.key_secrets, local.provider_secrets)
}

data "aws_caller_identity" "current" {}

# Administered by the account; the services' execution roles get kms:Decrypt through their own
# IAM policies (the ecs_service module), which the account-root statement makes effective.
resource "aws_kms_key" "secrets" {
  description         = "${var.name} secrets"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_secretsmanager_secret" "this" {
  for_each                = local.all
  name                    = "${var.name}/${each.value}"
  description             = "Lectern ${each.key}"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}
